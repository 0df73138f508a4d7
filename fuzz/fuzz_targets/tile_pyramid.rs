//! AFL target: `sportello::fuzzing::tile_pyramid` on each input.

fn main() {
    afl::fuzz!(|data: &[u8]| sportello::fuzzing::tile_pyramid(data));
}
