//! The MUD parser must never panic, and whatever it accepts must survive
//! compile and a write-back/re-parse round trip (in the same mode) unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mud::{Mode, ParseOptions, compile, parse};

fuzz_target!(|data: &[u8]| {
    for mode in [Mode::Lenient, Mode::Strict] {
        let opts = ParseOptions { mode, ..Default::default() };
        match parse(data, &opts) {
            Ok(p) => {
                let policy = compile(&p.file).expect("a parsed file compiles");
                let _ = policy.summary();
                let again = parse(&p.file.to_json_bytes(), &opts)
                    .expect("the written form of a parsed file parses again");
                assert_eq!(again.file, p.file);
            }
            Err(e) => {
                let _ = e.diagnostics();
            }
        }
    }
});
