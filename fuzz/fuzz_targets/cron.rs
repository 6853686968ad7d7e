//! The CronJob schedule parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(s) = kubedx::rules::rollout::cron::parse(&text) {
        assert!(s.minutes >> 60 == 0 && s.hours >> 24 == 0);
    }
});
