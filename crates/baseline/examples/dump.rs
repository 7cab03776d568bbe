//! Prints a module's functions as wasmparser operators (a debugging aid for
//! differential-test divergences): `cargo run -p rung-baseline --example dump -- FILE`.

fn main() {
    let path = std::env::args().nth(1).expect("a .wasm file");
    let bytes = std::fs::read(&path).expect("read");
    let mut func = 0;
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        match payload.expect("parse") {
            wasmparser::Payload::CodeSectionEntry(body) => {
                println!("== body {func} at {:#x}", body.range().start);
                for local in body.get_locals_reader().expect("locals") {
                    println!("  local {:?}", local.expect("local"));
                }
                let mut ops = body.get_operators_reader().expect("ops");
                while !ops.eof() {
                    let off = ops.original_position();
                    println!("  {off:#6x}: {:?}", ops.read().expect("op"));
                }
                func += 1;
            }
            wasmparser::Payload::End(_) => {}
            other => println!("{other:?}"),
        }
    }
}
