//! AFL target: `sportello::fuzzing::bundle_desks` on each input.

fn main() {
    afl::fuzz!(|data: &[u8]| sportello::fuzzing::bundle_desks(data));
}
