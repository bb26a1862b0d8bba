#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| privatelink_emulator::fuzzing::query_xml(data));
