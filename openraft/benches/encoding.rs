//! The encodings a log store could keep its values in, compared on the values it keeps:
//! encode and decode time per value, and the encoded size.
//!
//! Values, with the tests' type config: a normal entry (a `Request::Set` of a 16-byte key
//! and a 100-byte value), a membership entry (three voters), a blank entry, a vote and a
//! log id. Formats: `json` (serde_json), `bincode` (1.3, its default options), `postcard`
//! (1, `use-std`) and `cbor` (ciborium). Before measuring, every format must give every
//! value back equal to itself; the encoded sizes are printed as a table.
//!
//! Case ids are `encoding/<format>/<value>/<encode|decode>`, one value per iteration.
//! `FSMSTORE_BENCH_QUICK=1` shortens warm-up and measurement.
//!
//! ```text
//! cargo bench -p fsmstore-openraft --bench encoding
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::hint::black_box;
use std::time::Duration;

use common::{Entry, Request, TypeConfig};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use openraft::Membership;
use openraft::alias::{LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use serde::Serialize;
use serde::de::DeserializeOwned;

const QUICK_ENV: &str = "FSMSTORE_BENCH_QUICK";

/// A serde format under comparison.
trait Format {
    const NAME: &'static str;
    fn encode<T: Serialize>(value: &T) -> Vec<u8>;
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String>;
}

struct Json;
struct Bincode;
struct Postcard;
struct Cbor;

impl Format for Json {
    const NAME: &'static str = "json";
    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        serde_json::to_vec(value).expect("json encode")
    }
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        serde_json::from_slice(bytes).map_err(|error| error.to_string())
    }
}

impl Format for Bincode {
    const NAME: &'static str = "bincode";
    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        bincode::serialize(value).expect("bincode encode")
    }
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        bincode::deserialize(bytes).map_err(|error| error.to_string())
    }
}

impl Format for Postcard {
    const NAME: &'static str = "postcard";
    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        postcard::to_stdvec(value).expect("postcard encode")
    }
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        postcard::from_bytes(bytes).map_err(|error| error.to_string())
    }
}

impl Format for Cbor {
    const NAME: &'static str = "cbor";
    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        let mut bytes = Vec::new();
        ciborium::into_writer(value, &mut bytes).expect("cbor encode");
        bytes
    }
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        ciborium::from_reader(bytes).map_err(|error| error.to_string())
    }
}

/// The values a log store keeps, one of each kind.
struct Values {
    normal: Entry,
    membership: Entry,
    blank: Entry,
    vote: VoteOf<TypeConfig>,
    log_id: LogIdOf<TypeConfig>,
}

impl Values {
    fn new() -> Self {
        // Index and term past 2^16, as a long-running log's are: varint formats pay
        // for the bytes a real log's numbers take.
        let (term, index) = (70_000, 12_345_678);
        let log_id = common::log_id(term, index);
        let request = Request::Set {
            key: format!("key/{:012}", 7),
            value: "v".repeat(100),
        };
        let voters = BTreeSet::from([1u64, 2, 3]);
        let membership = Membership::new_with_defaults(vec![voters], []);
        Self {
            normal: common::normal(index, request),
            membership: Entry::new_membership(common::log_id(term, index + 1), membership),
            blank: Entry::new_blank(common::log_id(term, index + 2)),
            vote: VoteOf::<TypeConfig>::new_committed(term, 1),
            log_id,
        }
    }
}

/// Panics unless `F` gives `value` back equal to itself.
fn check_round_trip<F: Format, T>(what: &str, value: &T) -> usize
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = F::encode(value);
    match F::decode::<T>(&bytes) {
        Ok(decoded) => assert_eq!(
            &decoded,
            value,
            "{} does not give the {what} back unchanged",
            F::NAME
        ),
        Err(error) => panic!("{} cannot decode the {what} it encoded: {error}", F::NAME),
    }
    bytes.len()
}

fn bench_value<F: Format, T>(group: &mut BenchmarkGroup<'_, WallTime>, what: &str, value: &T)
where
    T: Serialize + DeserializeOwned,
{
    let bytes = F::encode(value);
    group.bench_function(format!("{}/{what}/encode", F::NAME), |b| {
        b.iter(|| F::encode(black_box(value)));
    });
    group.bench_function(format!("{}/{what}/decode", F::NAME), |b| {
        b.iter(|| F::decode::<T>(black_box(&bytes)).expect("decode"));
    });
}

/// The encoded sizes of `values` in `F`, after checking that each round-trips.
fn sizes<F: Format>(values: &Values) -> [usize; 5] {
    [
        check_round_trip::<F, _>("normal entry", &values.normal),
        check_round_trip::<F, _>("membership entry", &values.membership),
        check_round_trip::<F, _>("blank entry", &values.blank),
        check_round_trip::<F, _>("vote", &values.vote),
        check_round_trip::<F, _>("log id", &values.log_id),
    ]
}

fn bench_format<F: Format>(group: &mut BenchmarkGroup<'_, WallTime>, values: &Values) {
    bench_value::<F, _>(group, "normal", &values.normal);
    bench_value::<F, _>(group, "membership", &values.membership);
    bench_value::<F, _>(group, "blank", &values.blank);
    bench_value::<F, _>(group, "vote", &values.vote);
    bench_value::<F, _>(group, "log_id", &values.log_id);
}

fn bench_encoding(c: &mut Criterion) {
    let values = Values::new();
    println!("encoded size, bytes: format, normal, membership, blank, vote, log id");
    for (name, sizes) in [
        (Json::NAME, sizes::<Json>(&values)),
        (Bincode::NAME, sizes::<Bincode>(&values)),
        (Postcard::NAME, sizes::<Postcard>(&values)),
        (Cbor::NAME, sizes::<Cbor>(&values)),
    ] {
        let [normal, membership, blank, vote, log_id] = sizes;
        println!("{name:>8}, {normal:>4}, {membership:>4}, {blank:>4}, {vote:>4}, {log_id:>4}");
    }

    let mut group = c.benchmark_group("encoding");
    if std::env::var_os(QUICK_ENV).is_some() {
        group.warm_up_time(Duration::from_millis(200));
        group.measurement_time(Duration::from_millis(500));
    }
    bench_format::<Json>(&mut group, &values);
    bench_format::<Bincode>(&mut group, &values);
    bench_format::<Postcard>(&mut group, &values);
    bench_format::<Cbor>(&mut group, &values);
    group.finish();
}

criterion::criterion_group!(benches, bench_encoding);
criterion::criterion_main!(benches);
