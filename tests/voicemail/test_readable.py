"""Transcripts for people: sentences a hotline hears, as Vosk writes them and as people read them."""

from __future__ import annotations

import pytest

from voicemail.readable import for_people, order_numbers, readable_words

CHINESE = [
    # order and phone numbers, said digit by digit
    ("我 的 订单 号 是 一 二 三 四 五 六 七 八", "我的订单号是12345678"),
    ("订单 号 二 零 二 六 一 一 二 四 零 一", "订单号2026112401"),
    ("我 的 手机 号 是 幺 三 八 零 零 一 三 八 零 零 零", "我的手机号是13800138000"),
    ("电话 是 幺 八 六 一 二 三 四 五 六 七 八", "电话是18612345678"),
    ("快递 单号 是 七 七 八 八 九 九 零 零", "快递单号是77889900"),
    ("尾号 五 六 七 八 的 那 张 卡", "尾号5678的那张卡"),
    # amounts
    ("退款 三百 五十 块 什么 时候 到", "退款350块什么时候到"),
    ("一共 三百 五十 元", "一共350元"),
    ("这个 一共 二十五 块 五", "这个一共25块5"),
    ("运费 五 块 钱", "运费5块钱"),
    ("一块 钱 都 没 退", "1块钱都没退"),
    ("我 付 了 两千 五", "我付了2500"),
    ("我 付 了 两千 五百 块", "我付了2500块"),
    ("退 了 一千 二百 八十", "退了1280"),
    # dates and times
    ("十二月 四号 送到", "12月4号送到"),
    ("五月 二十 号 下 的 单", "5月20号下的单"),
    ("二零二六 年 十二月 四 号", "2026年12月4号"),
    ("三点 半 来 取", "3点半来取"),
    ("下午 两点 送货", "下午2点送货"),
    ("三点 十五 分", "3点15分"),
    ("晚上 一点 以后 别 打", "晚上1点以后别打"),
    ("我 想 问 一下 十一 点 之前 能 送到 吗", "我想问一下11点之前能送到吗"),
    # percentages, discounts, counts
    ("打 八折 就是 百分之 八十", "打8折就是80%"),
    ("退货 退款 要 十五 个 工作日", "退货退款要15个工作日"),
    ("三 到 十五 天", "3到15天"),
    ("我 等 了 三天 了", "我等了三天了"),
    ("两 件 衣服", "两件衣服"),
    # words that are not numbers
    ("你们 等 一下", "你们等一下"),
    ("我们 一起 去", "我们一起去"),
    ("一样 的 东西", "一样的东西"),
    ("一般 三天 到", "一般三天到"),
    ("统一 回复", "统一回复"),
    ("万一 丢 了 怎么办", "万一丢了怎么办"),
    ("买 了 一些 东西", "买了一些东西"),
    ("第一 次 买", "第一次买"),
    ("一点 都 不 好", "一点都不好"),
    ("便宜 一点", "便宜一点"),
    ("我们 一块 去", "我们一块去"),
    ("星期 一 送", "星期一送"),
    ("十分 感谢", "十分感谢"),
    ("一直 没 人 接", "一直没人接"),
    # Latin words keep their spaces
    ("我 的 iphone 坏 了", "我的 iphone 坏了"),
    ("  收到 了   谢谢 ", "收到了谢谢"),
]


@pytest.mark.parametrize(("heard", "read"), CHINESE)
def test_chinese_reads_without_spaces_and_with_digits_where_numbers_are(
    heard: str, read: str
) -> None:
    assert for_people(heard, "zh") == read
    assert for_people(heard, "zh-CN") == read


ENGLISH = [
    ("order number one two three four five", "order number 12345"),
    ("my phone is five five five one two three four", "my phone is 5551234"),
    ("call me at double five one two", "call me at 5512"),
    ("order number one two", "order number 12"),
    ("i have one question", "i have one question"),
    ("two days ago i ordered one item", "two days ago i ordered one item"),
    ("oh i see", "oh i see"),
    ("  my   refund ", "my refund"),
]


@pytest.mark.parametrize(("heard", "read"), ENGLISH)
def test_english_digits_said_one_by_one_become_a_number(heard: str, read: str) -> None:
    assert for_people(heard, "en") == read


def test_other_languages_only_lose_extra_spaces() -> None:
    assert for_people("  주문 번호는   3 년 ", "ko") == "주문 번호는 3 년"
    # The tests' Korean model serves "zh" messages: Hangul and its spaces are left alone.
    assert for_people("주문 번호는 3 년", "zh") == "주문 번호는 3 년"


def timed(text: str) -> list[dict[str, float | str]]:
    """Vosk's words for ``text``, one a second, half a second long."""
    return [{"word": w, "start": float(i), "end": i + 0.5, "conf": 0.9 - i / 100}
            for i, w in enumerate(text.split())]  # fmt: skip


def shown(text: str, language: str) -> str:
    return "".join((" " if p.space else "") + p.word for p in readable_words(timed(text), language))


@pytest.mark.parametrize(("heard", "read"), CHINESE[:20])
def test_timed_words_read_as_the_transcript(heard: str, read: str) -> None:
    assert shown(heard, "zh") == read


def test_words_said_as_one_number_are_one_piece_with_their_times() -> None:
    pieces = readable_words(timed("订单 号 一 二 三 四 五 的 iphone 坏 了"), "zh")
    assert [(p.word, p.space) for p in pieces] == [
        ("订单", False), ("号", False), ("12345", False), ("的", False), ("iphone", True),
        ("坏", True), ("了", False),
    ]  # fmt: skip
    number = pieces[2]
    assert (number.start, number.end, number.conf) == (2.0, 6.5, 0.9 - 6 / 100)
    english = readable_words(timed("order number one two three please"), "en")
    assert [p.word for p in english] == ["order", "number", "123", "please"]
    assert shown("주문  번호", "ko") == "주문 번호" and readable_words([], "zh") == []


ORDERS = [
    ("我的订单号是12345678", ["12345678"]),
    ("订单号2026112401,手机号13800138000", ["2026112401"]),
    ("我的手机号是13800138000", []),  # a phone number, not an order
    ("订单12345还没到", ["12345"]),  # short, but said to be an order
    ("退款350块什么时候到", []),
    ("2026年12月4号", []),
    ("就是20261124那个单子,还有20261125", ["20261124", "20261125"]),
    ("order number 12345", ["12345"]),
    ("my order is 98765 and 98765 again", ["98765"]),
    ("尾号5678", []),
    ("订单号是12", []),  # the IVR takes 3 digits at least
]


@pytest.mark.parametrize(("text", "numbers"), ORDERS)
def test_order_numbers_are_found_where_said(text: str, numbers: list[str]) -> None:
    assert order_numbers(text) == numbers


def test_order_numbers_from_what_vosk_heard() -> None:
    heard = "你好 我 的 订单 号 是 二 零 二 六 一 一 二 四 零 一 什么 时候 到"
    assert order_numbers(for_people(heard, "zh")) == ["2026112401"]
