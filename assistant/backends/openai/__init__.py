"""The openai backend: any OpenAI-compatible server (vLLM, TGI, llama-server, Ollama) over HTTP.

``backend`` is the protocol implementation; ``discovery`` what a load finds out
(server family, model, context window); ``reply_stream`` one streamed reply read
into chunks; ``http`` the client (timeouts, deadlines, retries), ``sse`` and
``stream`` the event stream, ``servers`` what each kind of server honours,
``settings`` where it is and how to reach it, ``scoring`` label scoring from
echoed prompt logprobs, ``request_helpers`` what optional requests and server
answers mean (no connection needed).
"""
