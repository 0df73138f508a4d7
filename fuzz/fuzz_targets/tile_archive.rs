//! AFL target: `sportello::fuzzing::tile_archive` on each input.

fn main() {
    afl::fuzz!(|data: &[u8]| sportello::fuzzing::tile_archive(data));
}
