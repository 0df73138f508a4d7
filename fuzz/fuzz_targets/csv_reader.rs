//! AFL target: `sportello::fuzzing::csv_reader` on each input.

fn main() {
    afl::fuzz!(|data: &[u8]| sportello::fuzzing::csv_reader(data));
}
