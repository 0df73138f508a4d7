//! AFL target: `sportello::fuzzing::bundle_manifest` on each input.

fn main() {
    afl::fuzz!(|data: &[u8]| sportello::fuzzing::bundle_manifest(data));
}
