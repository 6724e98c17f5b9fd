use postback::ClickId;

#[test]
fn generated_id_round_trips_through_text() {
    let id = ClickId::generate();
    assert_eq!(ClickId::parse(&id.encode()), Ok(id));
}
