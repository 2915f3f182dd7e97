//! The splicer on a mutated FLV slice next to a valid one: never a panic, a hang or unbounded memory.
//! Even-length inputs go second (the valid slice is the reference): then the splice must succeed
//! and copy the valid slice whole, whatever the other slice holds ("an unreadable slice is skipped,
//! the rest is unaffected"). Odd-length inputs go first, so garbage gets to be the reference; today
//! a garbled first slice can still fail the whole splice (its unusable video becomes the output's),
//! so only SPLICE_FUZZ_STRICT=1 demands success in that order too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localrecord::splice::{splice_files, SliceOutcome};
use std::path::PathBuf;
use std::sync::OnceLock;

static REFERENCE: &[u8] = include_bytes!("../corpus/splice_flv/h264-aac-1s.flv");

struct Files {
    _dir: tempfile::TempDir,
    reference: PathBuf,
    fuzzed: PathBuf,
    out: PathBuf,
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("splice-fuzz").tempdir().unwrap();
        let reference = dir.path().join("reference.flv");
        std::fs::write(&reference, REFERENCE).unwrap();
        Files {
            reference,
            fuzzed: dir.path().join("fuzzed.flv"),
            out: dir.path().join("out.mp4"),
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = files();
    std::fs::write(&f.fuzzed, data).unwrap();
    let _ = std::fs::remove_file(&f.out);
    let reference_first = data.len() % 2 == 0;
    let inputs = if reference_first {
        vec![f.reference.clone(), f.fuzzed.clone()]
    } else {
        vec![f.fuzzed.clone(), f.reference.clone()]
    };
    let result = splice_files(&inputs, &f.out);
    if !reference_first && std::env::var_os("SPLICE_FUZZ_STRICT").is_some() {
        let summary = result.expect("a valid slice always makes a recording");
        assert_ne!(
            summary.slices[1].outcome,
            SliceOutcome::Skipped,
            "{:?}",
            summary.slices[1]
        );
    } else if reference_first {
        let summary = result.expect("a valid first slice always makes a recording");
        assert_eq!(summary.slices.len(), 2);
        assert_eq!(
            summary.slices[0].outcome,
            SliceOutcome::Copied,
            "{:?}",
            summary.slices[0]
        );
    }
});
