//! Fuzz target `json`: the same entry point the corpus replay test calls.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gatehouse_model::fuzzing::management_json(data);
});
