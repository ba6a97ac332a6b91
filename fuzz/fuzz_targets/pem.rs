//! Fuzz target `pem`: the same entry point the corpus replay test calls.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gatehouse_model::fuzzing::pem(data);
});
