//! Resource limits an embedder sets on a store (`Store::limiter`): how
//! large its linear memories and tables may grow and how many instances,
//! memories and tables it may hold.
//!
//! Growth beyond a limit fails as the spec lets it (`memory.grow` and
//! `table.grow` return -1); creating something beyond one (instantiating,
//! `Memory::new`, `Table::new`) is an `Error::Resource` that names the
//! limit, checked before anything is created. A shared memory is limited
//! by each store that grows it through its own limiter.

use crate::Error;

/// A policy for what a store may allocate. [`StoreLimits`] is the usual one;
/// implement this for a custom policy (e.g. a quota across stores).
///
/// Each method returns `Err` with a sentence naming the limit when the
/// request is refused.
pub trait ResourceLimiter: Send {
    /// Whether a linear memory may go from `current` to `desired` bytes
    /// (`maximum`: its declared maximum, if any). Asked when a memory is
    /// created (`current` 0) and before it grows.
    fn memory_growing(
        &mut self,
        current: u64,
        desired: u64,
        maximum: Option<u64>,
    ) -> Result<(), String>;

    /// Whether a table may go from `current` to `desired` elements.
    fn table_growing(
        &mut self,
        current: u64,
        desired: u64,
        maximum: Option<u64>,
    ) -> Result<(), String>;

    /// How many instances the store may hold.
    fn instances(&self) -> usize {
        usize::MAX
    }

    /// How many linear memories the store may hold (defined or created by
    /// the host; imports do not count again).
    fn memories(&self) -> usize {
        usize::MAX
    }

    /// How many tables the store may hold.
    fn tables(&self) -> usize {
        usize::MAX
    }
}

/// Fixed limits, built with [`StoreLimitsBuilder`]; unset means unlimited.
#[derive(Debug, Clone, Default)]
pub struct StoreLimits {
    memory_size: Option<u64>,
    table_elements: Option<u64>,
    instances: Option<usize>,
    memories: Option<usize>,
    tables: Option<usize>,
}

/// Builds [`StoreLimits`].
#[derive(Debug, Clone, Default)]
pub struct StoreLimitsBuilder(StoreLimits);

impl StoreLimitsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The most bytes one linear memory may have.
    pub fn memory_size(mut self, bytes: u64) -> Self {
        self.0.memory_size = Some(bytes);
        self
    }

    /// The most elements one table may have.
    pub fn table_elements(mut self, elements: u64) -> Self {
        self.0.table_elements = Some(elements);
        self
    }

    /// The most instances the store may hold.
    pub fn instances(mut self, n: usize) -> Self {
        self.0.instances = Some(n);
        self
    }

    /// The most linear memories the store may hold.
    pub fn memories(mut self, n: usize) -> Self {
        self.0.memories = Some(n);
        self
    }

    /// The most tables the store may hold.
    pub fn tables(mut self, n: usize) -> Self {
        self.0.tables = Some(n);
        self
    }

    pub fn build(self) -> StoreLimits {
        self.0
    }
}

impl ResourceLimiter for StoreLimits {
    fn memory_growing(
        &mut self,
        _current: u64,
        desired: u64,
        _maximum: Option<u64>,
    ) -> Result<(), String> {
        match self.memory_size {
            Some(limit) if desired > limit => Err(format!(
                "a memory of {desired} bytes exceeds the store's memory_size limit of {limit} bytes"
            )),
            _ => Ok(()),
        }
    }

    fn table_growing(
        &mut self,
        _current: u64,
        desired: u64,
        _maximum: Option<u64>,
    ) -> Result<(), String> {
        match self.table_elements {
            Some(limit) if desired > limit => Err(format!(
                "a table of {desired} elements exceeds the store's table_elements limit of {limit}"
            )),
            _ => Ok(()),
        }
    }

    fn instances(&self) -> usize {
        self.instances.unwrap_or(usize::MAX)
    }

    fn memories(&self) -> usize {
        self.memories.unwrap_or(usize::MAX)
    }

    fn tables(&self) -> usize {
        self.tables.unwrap_or(usize::MAX)
    }
}

/// `count` more of `what` than the store's `have`, against `limit`.
pub(crate) fn check_count(what: &str, have: usize, more: usize, limit: usize) -> Result<(), Error> {
    if more > 0 && have.saturating_add(more) > limit {
        return Err(Error::Resource(format!(
            "{} {what} would exceed the store's limit of {limit}",
            have.saturating_add(more)
        )));
    }
    Ok(())
}
