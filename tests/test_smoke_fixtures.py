from flask.testing import FlaskClient


def test_health_answers_ok(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
