//! Races at every state of a pull: CANCEL from B, BYE from A or R while
//! A is asked, a second pull, a re-INVITE from R while pending.

use super::*;

#[test]
fn cancel_from_b_gets_487_a_keeps_the_call_and_can_be_asked_again() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let _ = s.asked();
    assert_eq!(pull.cancel().expect("CANCEL answered"), 200);
    assert_eq!(pull.wait_final(T).expect("final"), 487);
    s.assert_a_keeps_call();
    // The attempt is over: a new one is asked again, and granted.
    let again = s.pull();
    let id = s.asked_nth(1);
    assert_eq!(s.decide(&id, "grant"), 200);
    let _ = s.answered(&again);
    s.a_call.wait_bye(T).expect("A is hung up");
    s.assert_r_untouched(started);
    assert_eq!(
        s.baton
            .wait_metric("baton_handovers_total", &["result=\"cancelled\""], 1.0),
        1.0
    );
}

#[test]
fn r_hanging_up_while_a_is_asked_gives_b_481() {
    let s = Scene::new(start(""), true);
    let pull = s.pull();
    let _ = s.asked();
    assert_eq!(s.r_call.bye().expect("R hangs up"), 200);
    assert_eq!(pull.wait_final(T).expect("final"), 481);
    s.a_call.wait_bye(T).expect("A is hung up with the call");
}

#[test]
fn a_hanging_up_while_asked_gives_b_481() {
    let s = Scene::new(start(""), true);
    let pull = s.pull();
    let _ = s.asked();
    assert_eq!(s.a_call.bye().expect("A hangs up"), 200);
    assert_eq!(pull.wait_final(T).expect("final"), 481);
    s.r_call.wait_bye(T).expect("R is hung up with the call");
}

#[test]
fn a_reinvite_from_r_while_pending_reaches_a_and_the_pull_still_works() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let id = s.asked();
    // R puts the call on hold and back: A, still holding the call, sees it.
    assert_eq!(s.r_call.hold().expect("hold"), 200);
    assert_eq!(s.r_call.resume().expect("resume"), 200);
    let reinvites = s
        .a_call
        .received_requests_since(started)
        .iter()
        .filter(|m| m.method() == Some(&sip_message::Method::INVITE))
        .count();
    assert_eq!(reinvites, 2, "A got R's two re-INVITEs");
    assert_eq!(s.decide(&id, "grant"), 200);
    let _ = s.answered(&pull);
    s.a_call.wait_bye(T).expect("A is hung up");
}
