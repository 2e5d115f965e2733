"""Finding messages by transcript words: Chinese bigrams, Korean, English, numbers, and the index."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from ivr.database import db
from voicemail.models import Voicemail
from voicemail.search import index_message, index_terms, matching, query_terms


def test_terms_for_chinese_korean_and_english() -> None:
    assert {"退货", "货运", "运费", "退", "费"} <= index_terms("退货运费谁承担")
    assert query_terms("运费") == ["运费"]
    assert query_terms("退货运费") == ["退货", "货运", "运费"]
    assert query_terms("费") == ["费"]
    assert query_terms("Refund ORDER 12345") == ["refund", "order", "12345"]
    assert "커피" in index_terms("한 잔의 커피가")
    assert query_terms("!!! ???") == []


def add(app: Flask, n: int, transcript: str) -> int:
    with app.app_context():
        message = Voicemail(call_sid=f"CA{n:032d}", case_number=f"2000000{n}", recording_sid=f"RE{n:032d}",
                            recording_url="https://api.twilio.com/x", from_number=f"+86139000000{n:02d}",
                            transcript=transcript)  # fmt: skip
        db.session.add(message)
        db.session.flush()
        index_message(db.session, message.id, transcript)
        db.session.commit()
        return message.id


def found(app: Flask, text: str) -> set[int]:
    with app.app_context():
        query = matching(text)
        assert query is not None
        return set(db.session.scalars(select(Voicemail.id).where(Voicemail.id.in_(query))))


def test_a_message_is_found_by_all_its_words_and_only_then(app: Flask) -> None:
    refund = add(app, 1, "我要退货 运费谁承担")
    late = add(app, 2, "快递三天还没到 运费已经付了")
    english = add(app, 3, "I want a refund for order 12345")
    assert found(app, "运费") == {refund, late}
    assert found(app, "退货运费") == set()  # not contiguous in either transcript
    assert found(app, "退货") == {refund}
    assert found(app, "快递 运费") == {late}
    assert found(app, "REFUND 12345") == {english}
    assert found(app, "refunds") == set()
    index_message_again = "改为换货"
    with app.app_context():
        index_message(db.session, refund, index_message_again)
        db.session.commit()
    assert found(app, "退货") == set()  # re-indexing replaces the old terms
    assert found(app, "换货") == {refund}
