//! The durable disk spool (being written).
