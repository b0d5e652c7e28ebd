"""Fake secrets in every format redaction must catch, shaped like real ones (each
literal is split so that secret scanners do not flag this file).

`SECRETS` maps a format to text holding one secret; `SENSITIVE` maps it to the
part of that text that must never reach a trace or a cassette.
"""

from __future__ import annotations

_PEM_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
SECRETS: dict[str, str] = {
    "aws_access_key_id": "AK" + "IAZ7QRSTUVWXY23456",
    "aws_secret_access_key": "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq9Trw4Xp2",
    "github_pat": "github"
    + "_pat_11ABCDEFG0qrstuvwxyzABCD_EFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz012345",
    "github_ghs": "gh" + "s_Zx8Qw7Ev6Rt5Yu4Io3Pa2Sd1Fg0Hj9Kl8Mn7B",
    "huggingface": "hf" + "_QwErTyUiOpAsDfGhJkLzXcVbNmQwErTyUi",
    "google_api_key": "AI" + "zaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "slack_bot": "xo" + "xb-2048291753-4096385127-AbCdEfGhIjKlMnOpQrStUvWx",
    "slack_webhook": "https://hooks."
    + "slack.com/services/T024BE7LD/B08J5QM3A/zXcVbNmAsDfGhJkLqWeRtYuI",
    "jwt": (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6Ikpv"
        "aG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    ),
    "pem_private_key": (
        f"-----BEGIN OPENSSH PRIVATE "
        f"KEY-----\n{_PEM_BODY}\nZDI1NTE5AAAAIOx9Yh2\n"
        "-----END OPENSSH PRIVATE KEY-----"
    ),
    "url_password": "postgresql://admin:Tr0ub4dor-and-3@db.internal:5432/prod",
    "password_text": "login with password=correct-horse-battery-staple please",
    "openai": "sk" + "-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34",
    "stripe": "sk" + "_live_51HqLyjWDarjtT1zdp7dcXYZ",
    "bearer": "Authorization: Bearer 9f8e7d6c5b4a39281706abcdef",
    "cookie": "Cookie: sessionid=c0ffee15c0ffee15c0ffee15",
}
SENSITIVE: dict[str, str] = {
    "aws_access_key_id": "AK" + "IAZ7QRSTUVWXY23456",
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq9Trw4Xp2",
    "github_pat": "github_pat_11ABCDEFG0qrstuvwxyz",
    "github_ghs": "Zx8Qw7Ev6Rt5Yu4Io3Pa2Sd1Fg0Hj9Kl8Mn7B",
    "huggingface": "QwErTyUiOpAsDfGhJkLzXcVbNm",
    "google_api_key": "9tSrke72PouQMnMX",
    "slack_bot": "AbCdEfGhIjKlMnOpQrStUvWx",
    "slack_webhook": "zXcVbNmAsDfGhJkLqWeRtYuI",
    "jwt": "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "pem_private_key": _PEM_BODY,
    "url_password": "Tr0ub4dor-and-3",
    "password_text": "correct-horse-battery-staple",
    "openai": "Ab12Cd34Ef56Gh78Ij90Kl12Mn34",
    "stripe": "51HqLyjWDarjtT1zdp7dcXYZ",
    "bearer": "9f8e7d6c5b4a39281706abcdef",
    "cookie": "c0ffee15c0ffee15c0ffee15",
}
ENV_SECRETS: dict[str, str] = {
    # values that look like nothing: only their variable's name marks them secret
    "AWS_SECRET_ACCESS_KEY": "Qm9vdHN0cmFwU2VjcmV0VmFsdWUxMjM0NTY3ODkw",
    "DATABASE_URL": "mysql-cluster-7.internal/app?sslmode=require",
    "my_api_token": "plain-looking-value-8812",
    "PGPASSWORD": "hunter2hunter2",
}
"""Secret-named environment variables whose values appear in the task unannounced."""
