//! Tests of the glyph recogniser.
