//! Acceptance tests for gatehouse-pki against real files made by rcgen and
//! the `openssl` CLI at test time.

mod ca;
mod hostile;
mod pem;
mod pkcs12;
mod rewrite;
mod seal;
mod support;
