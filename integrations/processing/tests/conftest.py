import pytest

from testutils.openai_fakes.chat import FakeChatCompletions, chat_server, serve


@pytest.fixture(scope="session")
def _chat_server():
    with chat_server() as server:
        yield server


@pytest.fixture
def chat_fake(_chat_server):
    """A fresh fake chat-completions service on the session's loopback server."""
    _chat_server.clear()
    yield serve(_chat_server, FakeChatCompletions())
    _chat_server.clear()
