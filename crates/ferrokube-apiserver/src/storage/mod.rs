//! Versioned object store with watch history. (Being written.)
