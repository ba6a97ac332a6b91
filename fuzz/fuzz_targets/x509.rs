//! Fuzz target `x509`: the same entry point the corpus replay test calls.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gatehouse_model::fuzzing::x509(data);
});
