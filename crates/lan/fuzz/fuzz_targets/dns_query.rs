//! A device's query: reading it never panics, and a query that is accepted is
//! forwarded with the same question.
#![no_main]

use lan::dns::parse_query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = parse_query(data) else {
        return;
    };
    let up = parse_query(&q.upstream_bytes(7)).expect("our upstream query reads back");
    assert_eq!(up.question, q.question);
});
