//! Activity log (in progress).
