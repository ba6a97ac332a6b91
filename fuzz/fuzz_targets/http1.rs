//! Fuzz target `http1`: the same entry point the corpus replay test calls.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gatehouse_proxy::fuzzing::http1(data);
});
