//! An openraft node over fsmstore as a process: raft between nodes over HTTP, a JSON
//! key-value API for clients, and a network fault layer for tests.
//!
//! The library holds the parts: [`app`] (the key-value application and the raft type
//! config), [`api`] (the client API's bodies, the contract clients build on),
//! [`network`] (raft RPCs and the fault layer), [`server`] (the HTTP routes) and
//! [`args`] (the command line); [`run`] is the whole node.

pub mod api;
pub mod app;
pub mod args;
pub mod network;
pub mod node;
pub mod server;

pub use args::Args;
pub use node::run;
