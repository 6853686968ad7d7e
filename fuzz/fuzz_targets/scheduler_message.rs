//! The parser of the scheduler's FailedScheduling messages.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let m = kubedx::rules::scheduling::message::parse(&text);
    let _ = m.preemption_helps();
    let _ = kubedx::rules::scheduling::message::classify(&text);
});
