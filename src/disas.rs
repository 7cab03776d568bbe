//! Disassembly of compiled functions (iced-x86, Intel syntax): one line per
//! instruction with its code offset, the wasm byte offset it came from where
//! the offset map says, and trap sites marked.

use std::fmt::Write as _;

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
use rung_tiering::CompiledFunction;

/// The function's code as text, one instruction per line.
pub fn disassemble(f: &CompiledFunction) -> String {
    let mut out = String::new();
    let mut decoder = Decoder::with_ip(64, &f.code, 0, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_first_operand_char_index(8);
    let mut ins = Instruction::default();
    let mut text = String::new();
    let mut map = f.offset_map.iter().peekable();
    while decoder.can_decode() {
        decoder.decode_out(&mut ins);
        text.clear();
        formatter.format(&ins, &mut text);
        let off = ins.ip() as u32;
        let mut wasm = None;
        while let Some(&&(code, w)) = map.peek() {
            if code > off {
                break;
            }
            wasm = Some(w);
            map.next();
        }
        let _ = write!(out, "  {off:5x}: {text:<44}");
        if let Some(w) = wasm {
            let _ = write!(out, " ; @{w:#x}");
        }
        if let Some(trap) = f.trap_at(off) {
            let _ = write!(out, " ; trap: {trap}");
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    out
}
