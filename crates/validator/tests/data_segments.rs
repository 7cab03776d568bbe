//! Data sections: the plain-segment fast path of stage 1 gives exactly
//! wasmparser's verdict, message and offset, on plain sections and on each
//! kind of segment that leaves it.

use wasmparser::{Validator, WasmFeatures};

fn wasmparser_verdict(bytes: &[u8]) -> Result<(), (String, u64)> {
    Validator::new_with_features(WasmFeatures::WASM3)
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| (e.message().to_string(), e.offset()))
}

fn rung_verdict(bytes: &[u8]) -> Result<(), (String, u64)> {
    rung_validator::validate(bytes, 1)
        .map(|_| ())
        .map_err(|e| (e.message, e.offset))
}

#[test]
fn data_sections_get_wasmparsers_verdicts() {
    let cases: &[(&str, Option<&str>)] = &[
        // Plain: passive, and active at i32.const offsets in memory 0 and 1.
        (
            r#"(module (memory 1) (memory 1)
                 (data (i32.const 0) "a") (data (i32.const -1) "b")
                 (data (memory 1) (i32.const 8) "c") (data "passive"))"#,
            None,
        ),
        // Not plain, still valid: a global.get and an extended constant.
        (
            r#"(module (memory 1) (global $g i32 (i32.const 4))
                 (data (i32.const 0) "a") (data (global.get $g) "b")
                 (data (i32.add (i32.const 1) (i32.const 2)) "c"))"#,
            None,
        ),
        // memory64 takes i64.const offsets.
        (r#"(module (memory i64 1) (data (i64.const 0) "a"))"#, None),
        // Invalid: the wrong offset type, after plain segments.
        (
            r#"(module (memory 1) (data (i32.const 0) "a") (data (i64.const 0) "b"))"#,
            Some("type mismatch"),
        ),
        // Invalid: memory 1 does not exist; no memory at all.
        (
            r#"(module (memory 1) (data (i32.const 0) "a") (data (memory 1) (i32.const 0) "b"))"#,
            Some("unknown memory 1"),
        ),
        (
            r#"(module (data (i32.const 0) "a"))"#,
            Some("unknown memory 0"),
        ),
    ];
    for (wat, error) in cases {
        let bytes = wat::parse_str(wat).expect("wat");
        let expected = wasmparser_verdict(&bytes);
        assert_eq!(rung_verdict(&bytes), expected, "{wat}");
        match (error, &expected) {
            (None, Ok(())) => {}
            (Some(m), Err((message, _))) => assert!(message.contains(m), "{wat}: {message}"),
            _ => panic!("{wat}: unexpected verdict {expected:?}"),
        }
    }
}

#[test]
fn a_data_section_out_of_order_is_still_rejected() {
    // The data section before the code section: the fast path must still
    // hand wasmparser the section's place.
    let bytes = wat::parse_str(r#"(module (memory 1) (func) (data (i32.const 0) "a"))"#).unwrap();
    let code = bytes.iter().position(|&b| b == 10).unwrap();
    let data = bytes.iter().rposition(|&b| b == 11).unwrap();
    let (head, code_sec, data_sec) = (&bytes[..code], &bytes[code..data], &bytes[data..]);
    let swapped: Vec<u8> = [head, data_sec, code_sec].concat();
    let expected = wasmparser_verdict(&swapped);
    assert!(expected.is_err(), "{expected:?}");
    assert_eq!(rung_verdict(&swapped), expected);
}
