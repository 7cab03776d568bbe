//! `Linker`: names for imports. Definitions are either handles that already
//! live in a store, or host functions defined once and bound to each store
//! (and each importing instance) when instantiating.

use std::collections::HashMap;
use std::sync::Arc;

use wasmparser::FuncType;

use crate::Error;
use crate::instance::instantiate;
use crate::module::Module;
use crate::store::{Caller, Extern, Func, HostCallback, Instance, Store};
use crate::traps::Trap;
use crate::values::Val;

#[derive(Clone)]
enum Definition {
    Extern(Extern),
    Host(FuncType, Arc<HostCallback>),
}

/// Resolves a module's imports by `(module, name)`.
#[derive(Clone, Default)]
pub struct Linker {
    definitions: HashMap<(String, String), Definition>,
}

impl Linker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Defines `module.name` as an existing store item.
    pub fn define(&mut self, module: &str, name: &str, item: Extern) -> &mut Self {
        self.definitions.insert(
            (module.to_string(), name.to_string()),
            Definition::Extern(item),
        );
        self
    }

    /// Defines `module.name` as a host function.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        self.definitions.insert(
            (module.to_string(), name.to_string()),
            Definition::Host(ty, Arc::new(f)),
        );
        self
    }

    /// Defines every export of `instance` under the module name `module`.
    pub fn instance(&mut self, store: &Store, module: &str, instance: Instance) -> &mut Self {
        for (name, ext) in instance.exports(store) {
            self.define(module, &name, ext);
        }
        self
    }

    /// Whether `module.name` is defined.
    pub fn contains(&self, module: &str, name: &str) -> bool {
        self.definitions
            .contains_key(&(module.to_string(), name.to_string()))
    }

    /// Resolves `module`'s imports and instantiates it in `store`.
    pub fn instantiate(&self, store: &mut Store, module: &Module) -> Result<Instance, Error> {
        let mut imports = Vec::with_capacity(module.env().imports.len());
        for import in &module.env().imports {
            let key = (import.module.clone(), import.name.clone());
            let ext = match self.definitions.get(&key) {
                Some(Definition::Extern(e)) => *e,
                Some(Definition::Host(ty, f)) => {
                    let f = f.clone();
                    Extern::Func(Func::new(store, ty.clone(), move |c, p, r| f(c, p, r))?)
                }
                None => {
                    return Err(Error::Link(format!(
                        "unknown import: `{}.{}` has not been defined",
                        import.module, import.name
                    )));
                }
            };
            imports.push(ext);
        }
        instantiate(&mut store.inner, module, &imports)
    }
}
