//! The sync wire format and sans-IO sync sessions.
