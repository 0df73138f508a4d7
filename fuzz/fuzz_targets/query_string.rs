//! AFL target: `sportello::fuzzing::query_string` on each input.

fn main() {
    afl::fuzz!(|data: &[u8]| sportello::fuzzing::query_string(data));
}
