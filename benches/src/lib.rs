//! Criterion benches for fsmstore live here; see DESIGN §7.
