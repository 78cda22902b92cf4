//! Tests of the glyph recogniser.

#[test]
#[ignore]
fn bench_parts() {
    use super::*;
    let fonts = GlyphModel::default_fonts();
    let font = render::load(&fonts[0]).unwrap();
    let ink = render::render_char(&font, 'B', render::RENDER_PX).unwrap();
    let mut rng = render::Rng::new(3);
    let vars: Vec<_> = (0..1000).map(|_| render::Variation::random(&mut rng)).collect();
    let t = std::time::Instant::now();
    let mut k = 0.0;
    for v in &vars {
        k += render::varied_features(&features::Padded::new(&ink), &render::inked_centres(&ink), v).unwrap()[0];
    }
    eprintln!("varied_features: {:?} per call ({k})", t.elapsed() / 1000);
    let t = std::time::Instant::now();
    for _ in 0..1000 {
        k += features::features(&ink, true).unwrap()[0];
    }
    eprintln!("features: {:?} per call ({k}) size {}x{}", t.elapsed() / 1000, ink.w, ink.h);
}

#[test]
#[ignore]
fn bench_parts2() {
    use super::*;
    let fonts = GlyphModel::default_fonts();
    let font = render::load(&fonts[0]).unwrap();
    let ink = render::render_char(&font, 'B', render::RENDER_PX).unwrap();
    let t = std::time::Instant::now();
    let mut k = 0.0;
    let mut norm = None;
    for _ in 0..1000 {
        let n = features::normalise(&ink, 0, 0, ink.w, ink.h);
        k += n.data[100];
        norm = Some(n);
    }
    eprintln!("normalise: {:?} per call ({k})", t.elapsed() / 1000);
    let norm = norm.unwrap();
    let t = std::time::Instant::now();
    for _ in 0..1000 {
        k += features::gradient_histogram(&norm)[3];
    }
    eprintln!("gradient: {:?} per call ({k})", t.elapsed() / 1000);
}
