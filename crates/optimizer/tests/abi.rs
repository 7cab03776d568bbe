//! Pins the calling convention of the code this tier emits to
//! `rung_tiering::abi::call_layout`, which the baseline tier emits by hand.
//!
//! For a few hundred random signatures (deterministic PRNG), a wasm function
//! returns each of its parameters (v128 too) as a result, then constants,
//! then a global read through the vmctx. The compiled code is disassembled with
//! iced-x86 and run symbolically up to its `ret`: each result location must
//! hold the symbol of the parameter location `call_layout` names for it (a
//! register's entry value, or a stack argument `[rbp + 16 + off]`), the
//! constants, and a load from `[vmctx register + global offset]`; the `ret`
//! immediate must be the callee-popped stack-argument size. A return area,
//! when the layout has one, is the entry value of rdi.
//!
//! The trampolines are run the same way up to their `call`: host-to-wasm
//! must put `values[i]` where `call_layout` puts parameter `i`, wasm-to-host
//! must store each parameter location to `values[i]` and pass the host
//! context and the array to `[host_ctx + HOST_CONTEXT_ENTRY]`.

mod common;

use std::collections::HashMap;

use common::{Module, tier};
use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};
use rung_tiering::Trampolines;
use rung_tiering::abi::{self, AbiType, Location};

#[derive(Clone, Debug, PartialEq)]
enum Sym {
    /// A register's value on entry.
    In(Register),
    /// The stack argument at this offset.
    Stack(i64),
    /// The return-area pointer.
    RetArea,
    Const(u64),
    /// A load from `[entry value of reg + disp]`.
    Load(Register, i64),
    /// The address `rsp + disp` (after the prologue).
    StackAddr(i64),
    Unknown,
}

fn hw(r: abi::Reg) -> Register {
    use Register as R;
    const GPR: [Register; 16] = [
        R::RAX,
        R::RCX,
        R::RDX,
        R::RBX,
        R::RSP,
        R::RBP,
        R::RSI,
        R::RDI,
        R::R8,
        R::R9,
        R::R10,
        R::R11,
        R::R12,
        R::R13,
        R::R14,
        R::R15,
    ];
    const XMM: [Register; 16] = [
        R::ZMM0,
        R::ZMM1,
        R::ZMM2,
        R::ZMM3,
        R::ZMM4,
        R::ZMM5,
        R::ZMM6,
        R::ZMM7,
        R::ZMM8,
        R::ZMM9,
        R::ZMM10,
        R::ZMM11,
        R::ZMM12,
        R::ZMM13,
        R::ZMM14,
        R::ZMM15,
    ];
    match r.class() {
        abi::RegClass::Int => GPR[r.hw_enc() as usize],
        abi::RegClass::Float => XMM[r.hw_enc() as usize],
    }
}

struct Sim {
    regs: HashMap<Register, Sym>,
    /// Stores through the return-area pointer, by displacement.
    ret_area: HashMap<i64, Sym>,
    spills: HashMap<i64, Sym>,
    ret_pop: Option<u32>,
    /// The target of the first `call`, when run with `stop_at_call`.
    call_target: Option<Sym>,
    code: Vec<u8>,
}

impl Sim {
    fn run(code: &[u8], ret_area: bool) -> Sim {
        Sim::run_until(code, ret_area, false)
    }

    fn run_until(code: &[u8], ret_area: bool, stop_at_call: bool) -> Sim {
        let mut s = Sim {
            regs: HashMap::new(),
            ret_area: HashMap::new(),
            spills: HashMap::new(),
            ret_pop: None,
            call_target: None,
            code: code.to_vec(),
        };
        if ret_area {
            s.regs.insert(Register::RDI, Sym::RetArea);
        }
        let mut d = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
        let mut ins = Instruction::default();
        while d.can_decode() {
            d.decode_out(&mut ins);
            if ins.mnemonic() == Mnemonic::Ret {
                s.ret_pop = Some(if ins.op_count() == 1 {
                    u32::from(ins.immediate16())
                } else {
                    0
                });
                break;
            }
            if stop_at_call && ins.mnemonic() == Mnemonic::Call {
                s.call_target = Some(match ins.op_kind(0) {
                    OpKind::Register => s.get(ins.op_register(0)),
                    OpKind::Memory => s.read_mem(&ins),
                    _ => Sym::Unknown,
                });
                break;
            }
            s.step(&ins);
        }
        s
    }

    fn get(&self, r: Register) -> Sym {
        let f = r.full_register();
        self.regs.get(&f).cloned().unwrap_or(Sym::In(f))
    }

    fn read_mem(&self, ins: &Instruction) -> Sym {
        if ins.is_ip_rel_memory_operand() {
            let a = ins.ip_rel_memory_address() as usize;
            let mut b = [0u8; 8];
            let n = self.code.len().saturating_sub(a).min(8);
            b[..n].copy_from_slice(&self.code[a..a + n]);
            return Sym::Const(u64::from_le_bytes(b));
        }
        let disp = ins.memory_displacement64() as i64;
        match ins.memory_base() {
            Register::RBP => Sym::Stack(disp - 16),
            Register::RSP => self.spills.get(&disp).cloned().unwrap_or(Sym::Unknown),
            base if ins.memory_index() == Register::None => match self.get(base) {
                Sym::In(r) => Sym::Load(r, disp),
                Sym::StackAddr(b) => self
                    .spills
                    .get(&(b + disp))
                    .cloned()
                    .unwrap_or(Sym::Unknown),
                _ => Sym::Unknown,
            },
            _ => Sym::Unknown,
        }
    }

    /// The source of a move: its last operand (VEX register forms of
    /// `vmovsd`/`vmovss` have three, the low lanes coming from the last).
    fn src(&self, ins: &Instruction) -> Sym {
        let i = ins.op_count() - 1;
        match ins.op_kind(i) {
            OpKind::Register => self.get(ins.op_register(i)),
            OpKind::Memory => self.read_mem(ins),
            OpKind::Immediate32 | OpKind::Immediate8to32 => {
                Sym::Const(u64::from(ins.immediate(i) as u32))
            }
            OpKind::Immediate32to64 | OpKind::Immediate8to64 | OpKind::Immediate64 => {
                Sym::Const(ins.immediate(i))
            }
            _ => Sym::Unknown,
        }
    }

    fn step(&mut self, ins: &Instruction) {
        use Mnemonic::*;
        match ins.mnemonic() {
            Lea if ins.memory_base() == Register::RSP && ins.memory_index() == Register::None => {
                let disp = ins.memory_displacement64() as i64;
                self.regs
                    .insert(ins.op_register(0).full_register(), Sym::StackAddr(disp));
            }
            Push | Nop | Cmp | Test | Ucomiss | Ucomisd | Jmp | Ja | Jae | Jb | Jbe | Je | Jne
            | Jg | Jge | Jl | Jle => {}
            Xor | Xorps | Xorpd | Pxor | Vxorps | Vxorpd | Vpxor
                if (1..ins.op_count()).all(|i| {
                    ins.op_kind(i) == OpKind::Register && ins.op_register(i) == ins.op_register(0)
                }) =>
            {
                self.regs
                    .insert(ins.op_register(0).full_register(), Sym::Const(0));
            }
            Mov | Movq | Movd | Movdqa | Movdqu | Movaps | Movups | Movapd | Movupd | Movsd
            | Movss | Vmovq | Vmovd | Vmovdqa | Vmovdqu | Vmovaps | Vmovups | Vmovapd | Vmovupd
            | Vmovsd | Vmovss => {
                let narrow = matches!(ins.mnemonic(), Movd | Movss | Vmovd | Vmovss)
                    || (ins.op_kind(0) == OpKind::Register && ins.op_register(0).size() == 4)
                    || (ins.op_kind(0) == OpKind::Memory && ins.memory_size().size() == 4);
                let v = match self.src(ins) {
                    Sym::Const(c) if narrow => Sym::Const(c & 0xffff_ffff),
                    v => v,
                };
                match ins.op_kind(0) {
                    OpKind::Register => {
                        let r = ins.op_register(0).full_register();
                        if r != Register::RSP && r != Register::RBP {
                            self.regs.insert(r, v);
                        }
                    }
                    OpKind::Memory => {
                        let disp = ins.memory_displacement64() as i64;
                        match (ins.memory_base(), self.get(ins.memory_base())) {
                            (Register::RSP, _) => {
                                self.spills.insert(disp, v);
                            }
                            (_, Sym::StackAddr(b)) => {
                                self.spills.insert(b + disp, v);
                            }
                            (_, Sym::RetArea) => {
                                self.ret_area.insert(disp, v);
                            }
                            _ => panic!("store outside the frame and return area: {ins}"),
                        }
                    }
                    k => panic!("destination {k:?} in {ins}"),
                }
            }
            _ => {
                if ins.op_count() > 0 && ins.op_kind(0) == OpKind::Register {
                    let r = ins.op_register(0).full_register();
                    if r != Register::RSP {
                        self.regs.insert(r, Sym::Unknown);
                    }
                }
            }
        }
    }

    fn at(&self, loc: Location) -> Sym {
        match loc {
            Location::Reg(r) => self.get(hw(r)),
            Location::Stack(o) => self
                .ret_area
                .get(&i64::from(o))
                .cloned()
                .unwrap_or(Sym::Unknown),
        }
    }
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

/// The first four have constants; parameters take any of the six.
const TYPES: [(&str, AbiType); 6] = [
    ("i32", AbiType::I32),
    ("i64", AbiType::I64),
    ("f32", AbiType::F32),
    ("f64", AbiType::F64),
    ("funcref", AbiType::I64),
    ("v128", AbiType::V128),
];

/// A nonzero constant of each type for result `j`, and its bits.
fn constant(ty: &str, j: usize) -> (String, u64) {
    let c = 0x100 + j as u64;
    match ty {
        "i32" => (format!("i32.const {c}"), c),
        "i64" => (format!("i64.const {c}"), c),
        "f32" => (
            format!("f32.const {}", f32::from_bits(0x4000_0000 + c as u32)),
            u64::from(0x4000_0000 + c as u32),
        ),
        "f64" => {
            let bits = 0x4000_0000_0000_0000 + c;
            (format!("f64.const {:?}", f64::from_bits(bits)), bits)
        }
        _ => unreachable!("no constant for {ty}"),
    }
}

#[test]
fn compiled_code_follows_call_layout() {
    let t = tier();
    let mut rng = Lcg(0x5eed);
    let mut checked = 0;
    for round in 0..300 {
        let np = rng.next() % 22;
        let params: Vec<(&str, AbiType)> = (0..np).map(|_| TYPES[rng.next() % 6]).collect();
        // Extra results: constants (no funcref constant), then the global.
        let nextra = rng.next() % 12;
        let extra: Vec<(&str, AbiType)> = (0..nextra).map(|_| TYPES[rng.next() % 4]).collect();

        let mut results: Vec<&str> = params.iter().map(|p| p.0).collect();
        results.extend(extra.iter().map(|e| e.0));
        results.push("i64");
        let mut body = String::new();
        for i in 0..np {
            body.push_str(&format!("local.get {i} "));
        }
        let mut consts = Vec::new();
        for (j, (ty, _)) in extra.iter().enumerate() {
            let (text, bits) = constant(ty, j);
            body.push_str(&text);
            body.push(' ');
            consts.push(bits);
        }
        body.push_str("global.get $g");
        let param_list: Vec<&str> = params.iter().map(|p| p.0).collect();
        let wat = format!(
            "(module (global $g (mut i64) (i64.const 0)) \
             (func (param {}) (result {}) {body}))",
            param_list.join(" "),
            results.join(" ")
        );
        let m = Module::from_wat(&wat);
        let f = m
            .compile_with(&t, 0, &rung_testkit::TOP)
            .unwrap_or_else(|e| panic!("round {round}: {e}\n{wat}"));

        let mut abi_params = vec![AbiType::I64];
        abi_params.extend(params.iter().map(|p| p.1));
        let mut abi_results: Vec<AbiType> = params.iter().map(|p| p.1).collect();
        abi_results.extend(extra.iter().map(|e| e.1));
        abi_results.push(AbiType::I64);
        let layout = abi::call_layout(&abi_params, &abi_results);

        let sim = Sim::run(&f.code, layout.has_ret_area());
        let ctx = format!("round {round}: {wat}\n{layout:?}");
        assert_eq!(sim.ret_pop, Some(layout.stack_args_size), "ret imm: {ctx}");
        for i in 0..np {
            let want = match layout.params[i + 1] {
                Location::Reg(r) => Sym::In(hw(r)),
                Location::Stack(o) => Sym::Stack(i64::from(o)),
            };
            assert_eq!(sim.at(layout.results[i]), want, "param {i}: {ctx}");
            checked += 1;
        }
        for (j, bits) in consts.iter().enumerate() {
            let got = match sim.at(layout.results[np + j]) {
                Sym::Const(c) if extra[j].1 == AbiType::I32 || extra[j].1 == AbiType::F32 => {
                    Sym::Const(c & 0xffff_ffff)
                }
                s => s,
            };
            assert_eq!(got, Sym::Const(*bits), "constant {j}: {ctx}");
            checked += 1;
        }
        let vmctx = layout.vmctx_reg().expect("vmctx in a register");
        if layout.has_ret_area() {
            assert_eq!(vmctx, abi::VMCTX_REG_WITH_RET_AREA, "{ctx}");
        }
        let global = m.offsets.global(0).expect("defined global");
        let last = *layout.results.last().expect("a result");
        assert_eq!(
            sim.at(last),
            Sym::Load(hw(vmctx), i64::from(global)),
            "global through the vmctx: {ctx}"
        );
        checked += 1;
    }
    assert!(checked > 2000, "only {checked} locations checked");
}

/// The symbol a parameter location holds on entry.
fn entry_sym(loc: Location) -> Sym {
    match loc {
        Location::Reg(r) => Sym::In(hw(r)),
        Location::Stack(o) => Sym::Stack(i64::from(o)),
    }
}

fn random_signature(rng: &mut Lcg) -> Vec<(wasmparser::ValType, AbiType)> {
    use wasmparser::ValType as V;
    let all = [
        (V::I32, AbiType::I32),
        (V::I64, AbiType::I64),
        (V::F32, AbiType::F32),
        (V::F64, AbiType::F64),
        (V::FUNCREF, AbiType::I64),
        (V::V128, AbiType::V128),
    ];
    (0..rng.next() % 22)
        .map(|_| all[rng.next() % all.len()])
        .collect()
}

/// host_to_wasm loads parameter `i` from `values + 16 i` (values in rdx)
/// into the `Tail` location `call_layout` gives it, passes the callee vmctx
/// (rdi) first, and calls `code` (rsi).
#[test]
fn host_to_wasm_trampolines_follow_call_layout() {
    let t = tier();
    let mut rng = Lcg(0x7a3b);
    for round in 0..100 {
        let params = random_signature(&mut rng);
        let results = random_signature(&mut rng);
        let ty = wasmparser::FuncType::new(params.iter().map(|p| p.0), results.iter().map(|r| r.0));
        let f = t.host_to_wasm(&ty).expect("trampoline");
        let mut abi_params = vec![AbiType::I64];
        abi_params.extend(params.iter().map(|p| p.1));
        let abi_results: Vec<AbiType> = results.iter().map(|r| r.1).collect();
        let layout = abi::call_layout(&abi_params, &abi_results);
        let sim = Sim::run_until(&f.code, false, true);
        let ctx = format!("round {round}: {ty}\n{layout:?}");
        assert_eq!(sim.call_target, Some(Sym::In(Register::RSI)), "{ctx}");
        let at = |loc: Location| match loc {
            Location::Reg(r) => sim.get(hw(r)),
            Location::Stack(o) => sim
                .spills
                .get(&i64::from(o))
                .cloned()
                .unwrap_or(Sym::Unknown),
        };
        assert_eq!(at(layout.params[0]), Sym::In(Register::RDI), "vmctx: {ctx}");
        for i in 0..params.len() {
            assert_eq!(
                at(layout.params[i + 1]),
                Sym::Load(Register::RDX, 16 * i as i64),
                "param {i}: {ctx}"
            );
        }
    }
}

/// wasm_to_host stores parameter `i` from its `Tail` location to
/// `values + 16 i` on its stack and calls `[host_ctx + 8](host_ctx, values)`.
#[test]
fn wasm_to_host_trampolines_follow_call_layout() {
    use rung_tiering::trampoline::HOST_CONTEXT_ENTRY;
    let t = tier();
    let mut rng = Lcg(0x91c2);
    for round in 0..100 {
        let params = random_signature(&mut rng);
        let results = random_signature(&mut rng);
        let ty = wasmparser::FuncType::new(params.iter().map(|p| p.0), results.iter().map(|r| r.0));
        let f = t.wasm_to_host(&ty).expect("trampoline");
        let mut abi_params = vec![AbiType::I64];
        abi_params.extend(params.iter().map(|p| p.1));
        let abi_results: Vec<AbiType> = results.iter().map(|r| r.1).collect();
        let layout = abi::call_layout(&abi_params, &abi_results);
        let sim = Sim::run_until(&f.code, layout.has_ret_area(), true);
        let ctx = format!("round {round}: {ty}\n{layout:?}");
        let Some(Location::Reg(vmctx)) = layout.params.first().copied() else {
            panic!("vmctx not in a register: {ctx}");
        };
        let host_ctx = hw(vmctx);
        assert_eq!(
            sim.call_target,
            Some(Sym::Load(host_ctx, i64::from(HOST_CONTEXT_ENTRY))),
            "{ctx}"
        );
        assert_eq!(sim.get(Register::RDI), Sym::In(host_ctx), "{ctx}");
        let Sym::StackAddr(base) = sim.get(Register::RSI) else {
            panic!(
                "values is not a stack address: {:?}: {ctx}",
                sim.get(Register::RSI)
            );
        };
        for i in 0..params.len() {
            assert_eq!(
                sim.spills.get(&(base + 16 * i as i64)).cloned(),
                Some(entry_sym(layout.params[i + 1])),
                "param {i}: {ctx}"
            );
        }
    }
}
