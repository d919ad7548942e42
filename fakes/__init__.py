"""What the project's fake servers (the fake Cloud API in ``whatsapp/fake``, the fake PSP in ``payments/fake``)
share: a clock tests can move, uvicorn on a background thread, and polling for a condition. Like the fakes, it
never imports Django or the product."""
