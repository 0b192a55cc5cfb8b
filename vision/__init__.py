"""Everything about one photo: decoding, preprocessing, model, engine, quality, hashing."""
