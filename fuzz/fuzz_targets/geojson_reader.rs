//! AFL target: `sportello::fuzzing::geojson_reader` on each input.

fn main() {
    afl::fuzz!(|data: &[u8]| sportello::fuzzing::geojson_reader(data));
}
