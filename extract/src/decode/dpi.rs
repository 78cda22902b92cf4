//! Resolution from file headers, and the A4 guess when there is none.
//!
//! Owns the parsing of the resolution fields themselves (PNG `pHYs`, JPEG
//! JFIF density and EXIF `XResolution`/`YResolution`/`ResolutionUnit`, TIFF
//! tag values) and the rule for when to trust them. Finding those fields in a
//! file is left to `raster.rs` and `tiff.rs`.
//!
//! Scanners usually write a true resolution; cameras and some tools write 72
//! or 96 dpi whatever the picture, or nothing. A resolution is trusted only if
//! the page it implies has its longer side between 100 and 700 mm; otherwise
//! the page is assumed to be A4, the size of every form we read.

/// The longer side of A4, in inches (297 mm).
pub(super) const A4_LONG_SIDE_IN: f32 = 11.69;

/// Implied longer page sides, in millimetres, for which a written resolution
/// is believed: from a half-A5 slip to beyond A2.
const PLAUSIBLE_LONG_SIDE_MM: std::ops::RangeInclusive<f32> = 100.0..=700.0;

const MM_PER_INCH: f32 = 25.4;

/// A resolution in pixels per inch, horizontally and vertically.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Dpi {
    /// Pixels per inch horizontally.
    pub x: f32,
    /// Pixels per inch vertically.
    pub y: f32,
}

impl Dpi {
    /// The same resolution with its axes swapped (for a page turned a quarter).
    pub fn swapped(self) -> Dpi {
        Dpi {
            x: self.y,
            y: self.x,
        }
    }
}

/// The unit a resolution field is written in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Unit {
    Inch,
    Centimetre,
    Metre,
}

/// A resolution from two per-unit densities; `None` if either is unusable.
pub(super) fn from_density(x: f64, y: f64, unit: Unit) -> Option<Dpi> {
    let per_inch = match unit {
        Unit::Inch => 1.0,
        Unit::Centimetre => 2.54,
        Unit::Metre => 0.0254,
    };
    let (x, y) = ((x * per_inch) as f32, (y * per_inch) as f32);
    (x.is_finite() && y.is_finite() && x > 0.0 && y > 0.0).then_some(Dpi { x, y })
}

/// The resolution to use for a page of `width` x `height` pixels: the one
/// `found` in the file if the page it implies is plausible, else the A4 guess.
pub(super) fn resolve(width: u32, height: u32, found: Option<Dpi>) -> Dpi {
    match found {
        Some(dpi) if plausible(width, height, dpi) => dpi,
        _ => assume_a4(width, height),
    }
}

fn plausible(width: u32, height: u32, dpi: Dpi) -> bool {
    let width_mm = width as f32 / dpi.x * MM_PER_INCH;
    let height_mm = height as f32 / dpi.y * MM_PER_INCH;
    let longer = width_mm.max(height_mm);
    longer.is_finite() && PLAUSIBLE_LONG_SIDE_MM.contains(&longer)
}

/// The resolution if the page is A4: its longer side in pixels / 11.69 in.
pub(super) fn assume_a4(width: u32, height: u32) -> Dpi {
    let d = width.max(height) as f32 / A4_LONG_SIDE_IN;
    let d = if d.is_finite() && d > 0.0 { d } else { 1.0 };
    Dpi { x: d, y: d }
}

/// The resolution in a PNG `pHYs` chunk's data (9 bytes: x, y per unit, unit).
/// Unit 0 means an aspect ratio only, which is no resolution.
pub(super) fn png_phys(data: &[u8]) -> Option<Dpi> {
    let x = be_u32(data, 0)?;
    let y = be_u32(data, 4)?;
    match data.get(8)? {
        1 => from_density(f64::from(x), f64::from(y), Unit::Metre),
        _ => None,
    }
}

/// The resolution in a JPEG APP0 segment's data, if it is JFIF with units.
pub(super) fn jfif_density(app0: &[u8]) -> Option<Dpi> {
    let rest = app0.strip_prefix(b"JFIF\0")?;
    // version (2 bytes), units, x density, y density
    let unit = match rest.get(2)? {
        1 => Unit::Inch,
        2 => Unit::Centimetre,
        _ => return None,
    };
    let x = be_u16(rest, 3)?;
    let y = be_u16(rest, 5)?;
    from_density(f64::from(x), f64::from(y), unit)
}

/// The resolution in a JPEG APP1 segment's data, if it is EXIF and its
/// first directory holds `XResolution` and `YResolution`.
pub(super) fn exif_resolution(app1: &[u8]) -> Option<Dpi> {
    let tiff = app1.strip_prefix(b"Exif\0\0")?;
    let big_endian = match tiff.get(..4)? {
        b"II*\0" => false,
        b"MM\0*" => true,
        _ => return None,
    };
    let u16_at = |at: usize| {
        if big_endian {
            be_u16(tiff, at)
        } else {
            le_u16(tiff, at)
        }
    };
    let u32_at = |at: usize| {
        if big_endian {
            be_u32(tiff, at)
        } else {
            le_u32(tiff, at)
        }
    };
    let rational_at = |at: usize| -> Option<f64> {
        let n = u32_at(at)?;
        let d = u32_at(at.checked_add(4)?)?;
        (d != 0).then(|| f64::from(n) / f64::from(d))
    };

    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = u16_at(ifd)?;
    let (mut x, mut y, mut unit) = (None, None, Unit::Inch);
    for i in 0..usize::from(entries) {
        let entry = ifd.checked_add(2)?.checked_add(i.checked_mul(12)?)?;
        let tag = u16_at(entry)?;
        let kind = u16_at(entry.checked_add(2)?)?;
        let value_at = entry.checked_add(8)?;
        match (tag, kind) {
            // RATIONAL values do not fit in the entry: its field is an offset.
            (282, 5) => x = rational_at(usize::try_from(u32_at(value_at)?).ok()?),
            (283, 5) => y = rational_at(usize::try_from(u32_at(value_at)?).ok()?),
            (296, 3) => {
                unit = match u16_at(value_at)? {
                    2 => Unit::Inch,
                    3 => Unit::Centimetre,
                    _ => return None,
                }
            }
            _ => {}
        }
    }
    from_density(x?, y?, unit)
}

/// The resolution from TIFF `XResolution`, `YResolution` and
/// `ResolutionUnit` values (a missing unit means inches, unit 1 none).
pub(super) fn tiff_resolution(x: Option<f64>, y: Option<f64>, unit: Option<u16>) -> Option<Dpi> {
    let unit = match unit.unwrap_or(2) {
        2 => Unit::Inch,
        3 => Unit::Centimetre,
        _ => return None,
    };
    from_density(x?, y?, unit)
}

pub(super) fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

pub(super) fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(s))
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_resolution_is_used_when_the_page_is_plausible() {
        let d = Dpi { x: 200.0, y: 200.0 };
        assert_eq!(resolve(1654, 2339, Some(d)), d);
        // A fax at 204 x 98 dpi: A4 either way.
        let fax = Dpi { x: 204.0, y: 98.0 };
        assert_eq!(resolve(1728, 1145, Some(fax)), fax);
    }

    #[test]
    fn implausible_or_missing_resolution_assumes_a4() {
        let a4_150 = assume_a4(1241, 1754);
        assert!((a4_150.x - 150.04).abs() < 0.01 && a4_150.x == a4_150.y);
        // 72 dpi written by a camera: 4000 px would be a 1411 mm page.
        assert_eq!(
            resolve(4000, 3000, Some(Dpi { x: 72.0, y: 72.0 })),
            assume_a4(4000, 3000)
        );
        assert_eq!(resolve(1654, 2339, None), assume_a4(1654, 2339));
        assert_eq!(
            resolve(
                1654,
                2339,
                Some(Dpi {
                    x: 2400.0,
                    y: 2400.0
                })
            ),
            assume_a4(1654, 2339)
        );
        assert!(assume_a4(0, 0).x > 0.0);
    }

    #[test]
    fn png_phys_in_metres_only() {
        let mut phys = Vec::new();
        phys.extend_from_slice(&11811u32.to_be_bytes());
        phys.extend_from_slice(&11811u32.to_be_bytes());
        phys.push(1);
        let d = png_phys(&phys).expect("a resolution");
        assert!((d.x - 300.0).abs() < 0.01 && (d.y - 300.0).abs() < 0.01);
        phys[8] = 0;
        assert_eq!(png_phys(&phys), None);
        assert_eq!(png_phys(&phys[..5]), None);
    }

    #[test]
    fn jfif_density_with_units() {
        let app0 = |unit: u8, x: u16, y: u16| {
            let mut v = b"JFIF\0\x01\x01".to_vec();
            v.push(unit);
            v.extend_from_slice(&x.to_be_bytes());
            v.extend_from_slice(&y.to_be_bytes());
            v.extend_from_slice(&[0, 0]);
            v
        };
        assert_eq!(
            jfif_density(&app0(1, 150, 150)),
            Some(Dpi { x: 150.0, y: 150.0 })
        );
        let cm = jfif_density(&app0(2, 118, 118)).expect("dots per cm");
        assert!((cm.x - 299.72).abs() < 0.01);
        assert_eq!(jfif_density(&app0(0, 1, 1)), None);
        assert_eq!(jfif_density(&app0(1, 0, 150)), None);
        assert_eq!(jfif_density(b"JFIF\0\x01"), None);
    }

    #[test]
    fn exif_resolution_both_byte_orders_and_garbage() {
        // Little-endian TIFF header, IFD0 at 8 with three entries, rationals after.
        let mut t = b"Exif\0\0II*\0\x08\0\0\0".to_vec();
        let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, value: u32| {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&kind.to_le_bytes());
            t.extend_from_slice(&1u32.to_le_bytes());
            t.extend_from_slice(&value.to_le_bytes());
        };
        t.extend_from_slice(&3u16.to_le_bytes());
        let rationals = 8 + 2 + 3 * 12 + 4;
        entry(&mut t, 282, 5, rationals);
        entry(&mut t, 283, 5, rationals + 8);
        entry(&mut t, 296, 3, 2);
        t.extend_from_slice(&0u32.to_le_bytes());
        for v in [300u32, 1, 300, 1] {
            t.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(exif_resolution(&t), Some(Dpi { x: 300.0, y: 300.0 }));
        // Every cut of it is refused without a panic.
        for n in 0..t.len() {
            assert_eq!(exif_resolution(&t[..n]), None, "cut at {n}");
        }
        let mut huge_offset = t.clone();
        huge_offset[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(exif_resolution(&huge_offset), None);
    }

    #[test]
    fn tiff_resolution_units() {
        assert_eq!(
            tiff_resolution(Some(200.0), Some(200.0), None),
            Some(Dpi { x: 200.0, y: 200.0 })
        );
        assert_eq!(tiff_resolution(Some(200.0), Some(200.0), Some(1)), None);
        assert!(tiff_resolution(Some(80.0), Some(80.0), Some(3))
            .is_some_and(|d| (d.x - 203.2).abs() < 0.01));
        assert_eq!(tiff_resolution(Some(f64::NAN), Some(200.0), Some(2)), None);
        assert_eq!(tiff_resolution(None, Some(200.0), Some(2)), None);
    }
}
