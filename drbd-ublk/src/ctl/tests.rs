use super::*;
use crate::repl::{ConnState, DiskState, Role};

#[test]
fn requests_round_trip() {
    let reqs = [
        Request::Ping,
        Request::Up("r0".into()),
        Request::Down { res: "r0".into(), force: true },
        Request::Primary { res: "r0".into(), force: true },
        Request::Connect { res: "r0".into(), discard_my_data: true },
        Request::Verify { res: "r0".into(), start: 4096 },
        Request::NewCurrentUuid { res: "r0".into(), clear_bitmap: false },
        Request::Status(None),
        Request::Status(Some("r1".into())),
        Request::Shutdown,
    ];
    for r in reqs {
        assert_eq!(Request::decode(&r.encode()).unwrap(), r, "{r:?}");
    }
}

#[test]
fn malformed_requests_are_refused() {
    for (text, what) in [
        ("drbdctl 2\nup\nr0\n", "bad header"),
        ("drbdctl 1\nfly\nr0\n", "unknown verb"),
        ("drbdctl 1\nup\n\n", "needs a resource"),
        ("drbdctl 1\nprimary\nr0\n--forse\n", "unknown option '--forse'"),
        ("drbdctl 1\nup\nr0\n--force\n", "unknown option"),
        ("drbdctl 1\nup\nr 0\n", "invalid resource name"),
        ("drbdctl 1\nverify\nr0\n--start=x\n", "bad option"),
        ("drbdctl 1\n", "no verb"),
    ] {
        let e = Request::decode(text).unwrap_err();
        assert!(e.to_string().contains(what), "{text:?}: {e}");
        assert_eq!(e.exit_code(), exit::USAGE);
    }
}

#[test]
fn responses_round_trip() {
    let mut st = ResourceStatus::new("r0", 3);
    st.peer = "bob".into();
    st.role = Role::Primary;
    st.cstate = ConnState::SyncTarget;
    st.disk = DiskState::Inconsistent;
    st.peer_disk = DiskState::UpToDate;
    st.ns = 7;
    st.oos = 1024;
    st.sync = Some(SyncProgress { total_kib: 10, left_kib: 4, verify: true, ..Default::default() });
    let st2 = ResourceStatus::new("r1", 4);
    let r = Ok(Response::Status(vec![st.clone(), st2.clone()]));
    assert_eq!(decode_response(&encode_response(&r)).unwrap(), Response::Status(vec![st, st2]));
    let r = Ok(Response::Text("hello\nworld".into()));
    assert_eq!(
        decode_response(&encode_response(&r)).unwrap(),
        Response::Text("hello\nworld".into())
    );
    let err = CtlError::failed(11, "State change failed: (-2)");
    let e: Result<Response, CtlError> = Err(err.clone());
    assert_eq!(decode_response(&encode_response(&e)).unwrap_err(), err);
    assert!(decode_response("nonsense").is_err());
    assert!(ResourceStatus::decode("name=r0\nrole=Boss\n").is_err());
}

#[test]
fn frames_bounded() {
    let mut buf = Vec::new();
    write_frame(&mut buf, "abc").unwrap();
    assert_eq!(read_frame(&mut &buf[..]).unwrap(), "abc");
    let mut big = (MAX_FRAME as u32 + 1).to_be_bytes().to_vec();
    big.extend_from_slice(b"xx");
    assert!(read_frame(&mut &big[..]).is_err());
}
