from django.urls import path

from campaigns import otp_api

urlpatterns = [
    path("t/<slug:tenant_slug>/otp/send/", otp_api.OtpSendApi.as_view(), name="api_otp_send"),
    path("t/<slug:tenant_slug>/otp/verify/", otp_api.OtpVerifyApi.as_view(), name="api_otp_verify"),
]
