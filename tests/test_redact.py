"""Tests for changenote.redact: secrets go, the readable rest stays, twice is the same as once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changenote.redact import (
    MASK,
    _builtin_rules,
    compile_extra,
    is_redacted_change,
    might_hold_secret,
    redact,
    redact_header,
)


def _body(n: int, alphabet: str = "aB3dE5gH7jK9mN1pQ2") -> str:
    """A deterministic token body of n characters."""
    return (alphabet * (n // len(alphabet) + 1))[:n]


# Token shapes are assembled at run time so that no scanner mistakes this file for a leak.
AWS_ID = "AK" + "IA" + "Z7Q4R2T8W6Y3U5P1"
AWS_STS_ID = "AS" + "IA" + "M3N5B7V9C1X2Z4L6"
GH_PAT = "gh" + "p_" + _body(36)
GH_OAUTH = "gh" + "o_" + _body(36)
GH_FINE = "github" + "_pat_" + _body(22) + "_" + _body(59)
SLACK_BOT = "xo" + "xb-" + "1234567890-1234567890123-" + _body(24)
SLACK_USER = "xo" + "xp-" + "1234567890-1234567890123-" + _body(24)
SLACK_HOOK_TAIL = "T00000000/B00000000/" + _body(24)
# Webhooks whose secret is in the URL's path (gitleaks' and trufflehog's rule sets).
DISCORD_HOOK = "112233445566778899/" + _body(68)
TEAMS_HOOK = (
    "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b@2e3f4a5b-6c7d-8e9f-0a1b-2c3d4e5f6a7b"
    "/IncomingWebhook/" + _body(32, "0123456789abcdef") + "/3c4d5e6f-7a8b-9c0d-1e2f-3a4b5c6d7e8f"
)
ZAPIER_HOOK = "1234567/" + _body(7, "abc1def")
IFTTT_HOOK = "deploy_done/with/key/" + _body(22)
TELEGRAM_BOT = "1234567890:" + "AA" + _body(33)
MATTERMOST_HOOK = _body(26, "k3j5h7g9f1d2s4a6")
STRIPE_LIVE = "sk" + "_live_" + _body(24)
STRIPE_RESTRICTED = "rk" + "_live_" + _body(24)
STRIPE_TEST = "sk" + "_test_" + _body(24)
GOOGLE_KEY = "AI" + "za" + "Sy" + _body(33)
NPM_TOKEN = "np" + "m_" + _body(36)
OPENAI_KEY = "sk" + "-proj-" + _body(40)
GITLAB_PAT = "gl" + "pat-" + _body(20)
GITLAB_TRIGGER = "gl" + "ptt-" + _body(40, "0123456789abcdef")
GITLAB_RUNNER = "GR" + "1348941" + _body(20)
HF_TOKEN = "h" + "f_" + _body(34)
SLACK_APP = "xa" + "pp-" + "1-A0123456789-1234567890123-" + _body(40)
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

# (carrier text, secret that must disappear, readable part that must remain)
SECRETS: list[tuple[str, str, str]] = [
    # Authorization and other headers
    ('curl -H "Authorization: Bearer abc.def" https://api.example.com', "abc.def",
     'curl -H "Authorization: Bearer ***" https://api.example.com'),
    ("curl -H 'Authorization: Bearer abc' https://api.example.com", "abc'",
     "'Authorization: Bearer ***' https://api.example.com"),
    ("curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA==' https://x", "dXNlcjpwYXNzd29yZA",
     "'Authorization: Basic ***' https://x"),
    (f"Authorization: token {GH_PAT}", GH_PAT, "Authorization: token ***"),
    ("authorization: bearer s3cr3t-value", "s3cr3t", "authorization: bearer ***"),
    ("Proxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", "YWxhZGRpbjpvcGVuc2VzYW1l",
     "Proxy-Authorization: Basic ***"),
    ("Authorization: AWS4-HMAC-SHA256 Credential=x/20240101, Signature=deadbeef99",
     "deadbeef99", "Authorization: AWS4-HMAC-SHA256 ***"),
    ("Authorization: Digest username=\"bob\", response=\"6629fae49393a053\"",
     "6629fae49393a053", "Authorization: Digest ***"),
    ('curl -b x -H "Cookie: sessionid=abc123; csrftoken=def456" https://x', "abc123",
     '-H "Cookie: ***" https://x'),
    ("< Set-Cookie: session=9f8e7d6c; Path=/; HttpOnly", "9f8e7d6c", "< Set-Cookie: ***"),
    ("X-Api-Key: k3y-v4lue-0099", "k3y-v4lue", "X-Api-Key: ***"),
    ('curl -H "X-Auth-Token: t0k3n-777" https://api', "t0k3n-777",
     '"X-Auth-Token: ***" https://api'),
    ("upstream call with Bearer abc.def failed", "abc.def", "with Bearer *** failed"),
    ("Authorization=Bearer q1w2e3r4t5", "q1w2e3r4t5", "Authorization=Bearer ***"),
    # URL userinfo / DSNs
    ("GET https://user:pw1234@host.example/path", "pw1234", "https://user:***@host.example/path"),
    ("postgresql+psycopg://app:s3cret@db:5432/prod", "s3cret",
     "postgresql+psycopg://app:***@db:5432/prod"),
    ("DATABASE_URL=postgres://app:hunter2@db/prod ./run", "hunter2",
     "DATABASE_URL=postgres://app:***@db/prod ./run"),
    ("redis://:r3dis-pass@cache:6379/0", "r3dis-pass", "redis://:***@cache:6379/0"),
    ("mongodb+srv://admin:m0ng0pw@cluster0.example.net/?retryWrites=true", "m0ng0pw",
     "mongodb+srv://admin:***@cluster0.example.net/?retryWrites=true"),
    (f"git clone https://x-access-token:{GH_OAUTH}@github.com/org/repo.git", GH_OAUTH,
     "https://x-access-token:***@github.com/org/repo.git"),
    ("curl -u admin:s3cretpw https://x", "s3cretpw", "curl -u admin:*** https://x"),
    # env-style assignments
    ("PASSWORD=hunter2 ./manage.py migrate", "hunter2", "PASSWORD=*** ./manage.py migrate"),
    ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI",
     "export AWS_SECRET_ACCESS_KEY=***"),
    ("DB_PASSWD='p@ss w0rd' make deploy", "w0rd", "DB_PASSWD='***' make deploy"),
    ('MYSQL_PWD="abc def" mysql -h db', "abc def", 'MYSQL_PWD="***" mysql -h db'),
    ("apikey=abcdef0123 ./client", "abcdef0123", "apikey=*** ./client"),
    ("GITHUB_CREDENTIALS=user:abc123 make", "abc123", "GITHUB_CREDENTIALS=*** make"),
    ("BASIC_AUTH=admin:adminpw ./serve", "adminpw", "BASIC_AUTH=*** ./serve"),
    ("client_secret='cs-999' python app.py", "cs-999", "client_secret='***' python app.py"),
    ("java -Djavax.net.ssl.keyStorePassword=changeit -jar app.jar", "changeit",
     "-Djavax.net.ssl.keyStorePassword=*** -jar app.jar"),
    ("kubectl create secret generic db --from-literal=password=kub3pw", "kub3pw",
     "--from-literal=password=***"),
    ("AccountName=acct;AccountKey=c2VjcmV0a2V5==;EndpointSuffix=core.windows.net",
     "c2VjcmV0a2V5", "AccountName=acct;AccountKey=***;EndpointSuffix=core.windows.net"),
    # YAML-ish
    ("  private_key: xyzzy-secret-material", "xyzzy", "  private_key: ***"),
    ("  db_password: correct horse battery staple", "horse", "  db_password: ***"),
    ('  token: "quoted-tok-1"  # from vault', "quoted-tok-1", '  token: "***"  # from vault'),
    # JSON bodies and reprs
    ('{"password": "hunter2", "user": "bob"}', "hunter2", '{"password": "***", "user": "bob"}'),
    ('{"access_token":"at-55","token_type":"Bearer","expires_in":3600}', "at-55",
     '{"access_token":"***","token_type":"Bearer","expires_in":3600}'),
    ('curl -d "{\\"api_key\\": \\"k-123\\"}" https://x', "k-123",
     '-d "{\\"api_key\\": \\"***\\"}" https://x'),
    ("{'client_secret': 'cs-777', 'scope': 'read'}", "cs-777",
     "{'client_secret': '***', 'scope': 'read'}"),
    ('{"apiKey": 12345678, "region": "eu"}', "12345678", '{"apiKey": ***, "region": "eu"}'),
    # CLI flags
    ("mysql --password s3cr3t --user root", "s3cr3t", "mysql --password *** --user root"),
    ("mysql --password=s3cr3t --user root", "s3cr3t", "mysql --password=*** --user root"),
    ("app --api-key abc123 --verbose", "abc123", "app --api-key *** --verbose"),
    ('deploy --token "quoted value" --env prod', "quoted value", 'deploy --token "***" --env prod'),
    ("vault login -token hvs-abc", "hvs-abc", "vault login -token ***"),
    # query parameters
    ("GET /items?token=abc&page=2", "abc&", "GET /items?token=***&page=2"),
    ('curl "https://api.example.com/v1?api_key=xyz9&format=json"', "xyz9",
     "?api_key=***&format=json"),
    ("https://x.example/cb?access_token=at-123&page=3", "at-123", "?access_token=***&page=3"),
    ("https://blob.example/f?sv=2021&sig=s1gn4ture%3D&se=2024", "s1gn4ture",
     "?sv=2021&sig=***&se=2024"),
    ("https://s3.example/k?X-Amz-Signature=abcdef0011&X-Amz-Expires=60", "abcdef0011",
     "?X-Amz-Signature=***&X-Amz-Expires=60"),
    ("https://x.example/hook?signature=zz99yy&id=4", "zz99yy", "?signature=***&id=4"),
    # well-known token shapes, bare in command output
    (f"Found credentials {AWS_ID} in environment", AWS_ID, "Found credentials AKIA*** in"),
    (f"session creds {AWS_STS_ID} expire soon", AWS_STS_ID, "session creds ASIA*** expire"),
    (f"remote: token {GH_PAT} revoked", GH_PAT, "remote: token ghp_*** revoked"),
    (f"using {GH_FINE} for checkout", GH_FINE, "using github_pat_*** for checkout"),
    (f"slack bot {SLACK_BOT} connected", SLACK_BOT, "slack bot xoxb-*** connected"),
    (f"user token {SLACK_USER}", SLACK_USER, "user token xoxp-***"),
    (f"curl -X POST https://hooks.slack.com/services/{SLACK_HOOK_TAIL} -d @msg.json",
     SLACK_HOOK_TAIL, "https://hooks.slack.com/services/*** -d @msg.json"),
    (f"curl -d @m.json https://discord.com/api/webhooks/{DISCORD_HOOK}", DISCORD_HOOK,
     "https://discord.com/api/webhooks/***"),
    (f"notify https://discordapp.com/api/webhooks/{DISCORD_HOOK}?wait=true", DISCORD_HOOK,
     "https://discordapp.com/api/webhooks/***?wait=true"),
    (f"POST https://contoso.webhook.office.com/webhookb2/{TEAMS_HOOK} ok", TEAMS_HOOK,
     "https://contoso.webhook.office.com/webhookb2/*** ok"),
    (f"old https://outlook.office.com/webhook/{TEAMS_HOOK}", TEAMS_HOOK,
     "https://outlook.office.com/webhook/***"),
    (f"zap https://hooks.zapier.com/hooks/catch/{ZAPIER_HOOK}/ sent", ZAPIER_HOOK,
     "https://hooks.zapier.com/hooks/catch/***/ sent"),
    (f"GET https://maker.ifttt.com/trigger/{IFTTT_HOOK}", IFTTT_HOOK,
     "https://maker.ifttt.com/trigger/***"),
    (f"curl https://api.telegram.org/bot{TELEGRAM_BOT}/sendMessage", TELEGRAM_BOT,
     "https://api.telegram.org/bot***/sendMessage"),
    (f"POST https://chat.example.com/hooks/{MATTERMOST_HOOK} 200", MATTERMOST_HOOK,
     "https://chat.example.com/hooks/*** 200"),
    (f"stripe charge with {STRIPE_LIVE}", STRIPE_LIVE, "stripe charge with sk_live_***"),
    (f"restricted {STRIPE_RESTRICTED} ok", STRIPE_RESTRICTED, "restricted rk_live_*** ok"),
    (f"test mode {STRIPE_TEST}", STRIPE_TEST, "test mode sk_test_***"),
    (f"maps url built with {GOOGLE_KEY}.", GOOGLE_KEY, "maps url built with AIza***."),
    (f"id_token {JWT} issued", JWT, "id_token *** issued"),
    (f"//registry.npmjs.org/:_authToken={NPM_TOKEN}", NPM_TOKEN,
     "//registry.npmjs.org/:_authToken=***"),
    (f"npm publish with {NPM_TOKEN}", NPM_TOKEN, "npm publish with npm_***"),
    (f"Incorrect API key provided: {OPENAI_KEY}.", OPENAI_KEY, "provided: sk-***."),
    (f"GITHUB_TOKEN: {GH_PAT}", GH_PAT, "GITHUB_TOKEN: ***"),
    (f"git push https://oauth2:{GITLAB_PAT}@gitlab.com/g/p.git", GITLAB_PAT,
     "https://oauth2:***@gitlab.com/g/p.git"),
    (f"glab auth login --hostname gitlab.com {GITLAB_PAT}", GITLAB_PAT, "gitlab.com glpat-***"),
    (f"curl -X POST -F token={GITLAB_TRIGGER} -F ref=main https://gitlab.example/api",
     GITLAB_TRIGGER, "-F token=*** -F ref=main"),
    (f"trigger with {GITLAB_TRIGGER} failed", GITLAB_TRIGGER, "trigger with glptt-*** failed"),
    (f"gitlab-runner register --url https://gitlab.example {GITLAB_RUNNER}", GITLAB_RUNNER,
     "--url https://gitlab.example GR1348941***"),
    (f"huggingface-cli login {HF_TOKEN} --add-to-git-credential", HF_TOKEN,
     "login hf_*** --add-to-git-credential"),
    (f"HF_TOKEN={HF_TOKEN} python train.py", HF_TOKEN, "HF_TOKEN=*** python train.py"),
    (f"socket mode with {SLACK_APP} started", SLACK_APP, "socket mode with xapp-*** started"),
    # password options of particular programs
    ("redis-cli -a r3dis-pw9 ping", "r3dis-pw9", "redis-cli -a *** ping"),
    ("redis-cli --pass r3dis-pw8 -h cache", "r3dis-pw8", "redis-cli --pass *** -h cache"),
    ("redis-cli -u redis://default:r3dis-pw7@cache:6379 ping", "r3dis-pw7",
     "redis-cli -u redis://default:***@cache:6379 ping"),
    ("mysql -uroot -pmy5ql-pw db", "my5ql-pw", "mysql -uroot -p*** db"),
    ("mysqldump -u root -pdump-pw1 --all-databases > all.sql", "dump-pw1",
     "mysqldump -u root -p*** --all-databases > all.sql"),
    ("sshpass -p ssh-pw-42 ssh -p 2222 backup@host", "ssh-pw-42",
     "sshpass -p *** ssh -p 2222 backup@host"),
    ("docker login -u deploy -p reg-pw-77 registry.example.com", "reg-pw-77",
     "docker login -u deploy -p *** registry.example.com"),
    ('psql "postgresql://app:pg-pw-5@db:5432/prod" -c "select 1"', "pg-pw-5",
     'psql "postgresql://app:***@db:5432/prod" -c "select 1"'),
    ('psql "host=db user=app password=pg-pw-6 dbname=prod"', "pg-pw-6",
     '"host=db user=app password=*** dbname=prod"'),
]  # fmt: skip

UNCHANGED = [
    "GET http://127.0.0.1:8000/search?q=fastapi&page=2",
    'pytest -k "token_parsing" tests/',
    "sleep 0.03",
    "keyboard",
    "monkey=1",
    "DEBUG=1",
    "--timeout 5",
    "git diff --stat",
    "KEYBOARD_LAYOUT=us",
    "TOKENIZERS_PARALLELISM=false",
    'git commit --author "Jane Doe <jane@example.com>" -m "fix auth"',
    "uvicorn app:app --host 0.0.0.0 --port 8000",
    "E   KeyError: 'api_key'",
    "tests/test_auth.py::test_token_refresh PASSED  [ 42%]",
    "The Bearer token expired, rotate the API key.",
    "PWD=/home/app OLDPWD=/tmp",
    "max_tokens=256",
    "if token == expected: return",
    "SESSION_TIMEOUT=30 TOKEN_URL=https://auth.example.com/token",
    "GOOGLE_APPLICATION_CREDENTIALS=/secrets/sa.json",
    "docker run -u 1000:1000 app",
    "password: ",
    "echo $API_TOKEN",
    "",
    # short flags that are passwords only after particular programs
    "ls -a",
    "cp -p src dst",
    "git commit -a -m x",
    "pytest -p no:cacheprovider",
    "ssh -p 2222 host",
    "scp -P 2222 -p file host:",
    "docker run -p 8080:80 nginx",
    "docker run --name mysql -p3306:3306 -d mysql:8",
    "find /var/lib -name mysql -print",
    "mysql -u root -p db",
    "mysql -h db -P 3306 -u root -p",
    "redis-cli -h cache -p 6379 --askpass ping",
    "sshpass -f ~/.ssh/pw ssh -p 2222 host",
    "sshpass -e ssh -p 2222 host",
    "docker login -u deploy --password-stdin registry.example.com",
    "glpat-short hf_short xapp-1",
]

ENV_REFERENCES = [
    "TOKEN=$TOKEN ./deploy",
    "API_KEY=${API_KEY} ./deploy",
    'deploy --token "$GITHUB_TOKEN"',
    "Authorization: Bearer ${TOKEN}",
    'curl -H "Authorization: Bearer $TOKEN" https://api.example.com',
    "postgres://app:${DB_PASSWORD}@db/prod",
    "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
    'PASSWORD="$(pass show db/prod)" ./migrate',
    "set API_KEY=%API_KEY%",
    '{"password": "${DB_PASSWORD}"}',
    "PASSWORD=*** ./migrate",
    "Authorization: Bearer ***",
    'redis-cli -a "$REDIS_PASSWORD" ping',
    'mysql -p"$MYSQL_PWD" db',
    "mysqldump -p${{ secrets.DB_PASSWORD }} prod",
    "mysql -p$(cat /run/secrets/db) db",
    "sshpass -p $SSHPASS ssh host",
    'docker login -u deploy -p "$CI_REGISTRY_PASSWORD" "$CI_REGISTRY"',
    "curl -u deploy:{{ secrets.PW }} https://x",
]


@pytest.mark.parametrize(("text", "secret", "kept"), SECRETS)
def test_secret_is_masked_and_readable_part_kept(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out
    assert kept in out
    assert MASK in out


def test_there_are_at_least_forty_secret_shapes() -> None:
    assert len(SECRETS) >= 40
    assert len({secret for _, secret, _ in SECRETS}) >= 40


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('curl -H "Authorization: Bearer abc"', 'curl -H "Authorization: Bearer ***"'),
        ("psql postgres://app:pw@db/prod", "psql postgres://app:***@db/prod"),
        ("PASSWORD=x make", "PASSWORD=*** make"),
        ("GET /search?token=t0k&page=2", "GET /search?token=***&page=2"),
        ("Authorization: Basic Zm9vOmJhcg==", "Authorization: Basic ***"),
        ("export API_KEY=abc SECRET=def OTHER=1", "export API_KEY=*** SECRET=*** OTHER=1"),
    ],
)
def test_exact_output(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", UNCHANGED)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("text", ENV_REFERENCES)
def test_env_references_and_masks_are_kept(text: str) -> None:
    assert redact(text) == text


# Found by fuzzing: a later rule (token shapes, -u) masks text next to, or inside, something an
# earlier rule had judged; the second pass must reach the same verdict.
IDEMPOTENCE_REGRESSIONS = [
    "xo" + "xb--xo" + "xb-max_tokens: xo" + "xb-\u00e9pwPWD",
    "sk" + "_live_AIzaABCDEFGHIJKLMNOPSet-CookieapiKey = true",
    "user-->max_tokens = 'np" + "m_x1ABCDEFGHIJKLMNOPpassword = 'postgressk" + "_live_",
    "sig--user*.pemexport --user=>%40authorization:xo" + "xb------END PRIVATE KEY-----",
    "KEY=xo" + 'xb--u\\"bearerauthorization:/home: *:.pem\t\'Basic\\"{xo' + "xb-Cookie",
    "pwTOKENpassword=hooks.slack.com/services/ABC.pem",
    "TOKEN=$AK" + "IAABCDEFGHIJKLMNOP",
    "-u Authorization:{{redis-cli }}",
]


@pytest.mark.parametrize(
    "text", [t for t, _, _ in SECRETS] + UNCHANGED + ENV_REFERENCES + IDEMPOTENCE_REGRESSIONS
)
def test_idempotent_on_examples(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@settings(database=None, deadline=None, max_examples=300)
@given(st.text())
def test_any_text_never_raises_and_is_idempotent(text: str) -> None:
    once = redact(text)
    assert isinstance(once, str)
    assert redact(once) == once


FRAGMENTS = [
    "TOKEN", "password", "apiKey", "api_key", "Authorization", "Cookie", "Set-Cookie", "Bearer",
    "Basic", "=", "==", ":", ": ", " = ", " ", "\n", "\t", '"', "'", '\\"', "\\", "$", "${", "}",
    "$(", ")", "{{", "}}", "*", MASK, "-", "--", "-u ", "abc", "x1", "dXNlcjpwYXNz", "&", "?",
    ";", "|", "<", ",", "/", "@", "://", "https", "user", "pw", "gh" + "p_", "sk-", "AK" + "IA",
    "AI" + "za", "eyJ", ".", "_", "ABCDEFGHIJKLMNOP", "0123456789", "abcdefghijklmnopqrstuvwxyz",
    "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----", "PWD", "/home", "true", "%X%",
    "xo" + "xb-", "np" + "m_", "sk" + "_live_", "hooks.slack.com/services/", "max_tokens", "url",
    "redis-cli ", "mysql ", "mysqldump", "sshpass ", "docker login ", "bin/", " -a ", "-p", "-P",
    "-f ", "--name ", "--pass ", "\\\n", "`", ">", "gl" + "pat-", "GR" + "1348941", "h" + "f_",
    "xa" + "pp-",
]  # fmt: skip


@settings(database=None, deadline=None, max_examples=400)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join))
def test_secretish_text_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


# --------------------------------------------------------------------------- command passwords
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # redis-cli: -a PW and --pass PW (separate argument), -u URL
        ("redis-cli -a s3cret ping", "redis-cli -a *** ping"),
        (
            "redis-cli -h cache.internal -p 6379 -a s3cret --no-auth-warning info",
            "redis-cli -h cache.internal -p 6379 -a *** --no-auth-warning info",
        ),
        ("redis-cli --pass=s3cret -n 2 FLUSHDB", "redis-cli --pass=*** -n 2 FLUSHDB"),
        (
            "redis-cli -u redis://:s3cret@cache:6379/0 ping",
            "redis-cli -u redis://:***@cache:6379/0 ping",
        ),
        (
            "docker exec redis redis-cli -a 's3 cret' FLUSHALL",
            "docker exec redis redis-cli -a '***' FLUSHALL",
        ),
        # mysql family: only a password glued to -p; -P is the port
        ("mysql -p's3 cret' db", "mysql -p'***' db"),
        ("mysql -h db -P 3306 -uroot -ps3cret shop", "mysql -h db -P 3306 -uroot -p*** shop"),
        (
            "mysqldump -ps3cret --single-transaction shop | gzip > shop.sql.gz",
            "mysqldump -p*** --single-transaction shop | gzip > shop.sql.gz",
        ),
        ('mysqladmin -u root -p"s3cret" flush-hosts', 'mysqladmin -u root -p"***" flush-hosts'),
        ("mariadb-dump -ps3cret shop", "mariadb-dump -p*** shop"),
        ("/usr/local/bin/mysql -ps3cret db", "/usr/local/bin/mysql -p*** db"),
        ("mysqldump \\\n  -ps3cret \\\n  shop", "mysqldump \\\n  -p*** \\\n  shop"),
        (
            'ssh backup@db "mysqldump -ps3cret shop" > shop.sql',
            'ssh backup@db "mysqldump -p*** shop" > shop.sql',
        ),
        (
            "docker exec -it db mysql -uroot -ps3cret -e 'SHOW DATABASES'",
            "docker exec -it db mysql -uroot -p*** -e 'SHOW DATABASES'",
        ),
        (
            "docker run --rm -it mysql mysql -hdb -ps3cret",
            "docker run --rm -it mysql mysql -hdb -p***",
        ),
        # sshpass: options end at the wrapped command, whose -p is its own
        ("sshpass -p s3cret ssh -p 2222 user@host", "sshpass -p *** ssh -p 2222 user@host"),
        ("sshpass -ps3cret scp -P 2222 -p f host:", "sshpass -p*** scp -P 2222 -p f host:"),
        (
            "sshpass -P assword -v -p s3cret -- rsync -ap x host:",
            "sshpass -P assword -v -p *** -- rsync -ap x host:",
        ),
        (
            "sshpass -p s3cret ssh db mysqldump -ps3cret shop",
            "sshpass -p *** ssh db mysqldump -p*** shop",
        ),
        # registry logins: -p PW, -pPW, -p=PW, --password PW; -u user stays
        (
            "docker login -u deploy -p s3cret registry.example.com",
            "docker login -u deploy -p *** registry.example.com",
        ),
        ("docker login -u deploy -ps3cret", "docker login -u deploy -p***"),
        ("docker login -u deploy -p=s3cret", "docker login -u deploy -p=***"),
        (
            "docker login --password s3cret -u deploy ghcr.io",
            "docker login --password *** -u deploy ghcr.io",
        ),
        ("podman login -u deploy -p s3cret quay.io", "podman login -u deploy -p *** quay.io"),
        (
            "helm registry login -u me -p s3cret oci.example.com",
            "helm registry login -u me -p *** oci.example.com",
        ),
        # the rule ends with the command
        ("redis-cli -a s3cret ping && ls -a", "redis-cli -a *** ping && ls -a"),
        ("mysql -ps3cret db; cp -pr a b", "mysql -p*** db; cp -pr a b"),
        (
            "docker login -p s3cret; docker run -p 8080:80 app",
            "docker login -p ***; docker run -p 8080:80 app",
        ),
    ],
)
def test_command_password_options(text: str, expected: str) -> None:
    out = redact(text)
    assert out == expected
    assert "s3cret" not in out
    assert "s3 cret" not in out
    assert redact(out) == out


# --------------------------------------------------------------------------- private keys
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----"
)


def test_private_key_block_body_is_replaced() -> None:
    text = f"$ cat id_rsa\n{PEM}\n$ echo done"
    out = redact(text)
    assert "MIIEowIBAAKCAQEA" not in out
    assert "VTLw7onLRnrq0" not in out
    assert out == (
        "$ cat id_rsa\n-----BEGIN RSA PRIVATE KEY-----\n***\n-----END RSA PRIVATE KEY-----\n"
        "$ echo done"
    )
    assert redact(out) == out


def test_openssh_and_json_escaped_private_keys() -> None:
    ssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----"
    assert "b3BlbnNzaC1rZXk" not in redact(ssh)
    escaped = (
        '{"type": "service_account", '
        '"pk": "-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----\\n"}'
    )
    out = redact(escaped)
    assert "MIIEvQ" not in out
    assert '"type": "service_account"' in out


def test_truncated_private_key_is_masked_to_the_end() -> None:
    out = redact("key:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBfV\nQ2xvc2Vk")
    assert "MHcCAQEEIBfV" not in out
    assert "Q2xvc2Vk" not in out
    assert out.startswith("key:\n-----BEGIN EC PRIVATE KEY-----")


def test_public_key_and_certificate_are_kept() -> None:
    text = (
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
    )
    assert redact(text) == text


# --------------------------------------------------------------------------- extra patterns
def test_extra_pattern_masks_whole_match() -> None:
    assert redact("ticket CORP-abc123def closed", [r"CORP-[a-z0-9]+"]) == "ticket *** closed"


def test_extra_pattern_masks_group_one_only() -> None:
    out = redact("internal-id: 12345 ok", [r"internal-id: (\d+)"])
    assert out == "internal-id: *** ok"


def test_extra_pattern_accepts_compiled_and_is_idempotent() -> None:
    pattern = re.compile(r"acme_[0-9a-f]{8}", re.IGNORECASE)
    once = redact("use ACME_DEADBEEF now", [pattern])
    assert once == "use *** now"
    assert redact(once, [pattern]) == once


def test_extra_pattern_matching_everything_is_still_idempotent() -> None:
    once = redact("abc", ["."])
    assert "a" not in once
    assert redact(once, ["."]) == once
    assert redact("bbb", ["a*"]) == "bbb"  # empty matches insert nothing


def test_extra_pattern_with_unmatched_or_empty_group_leaves_text() -> None:
    assert redact("y", [r"(x)?y"]) == "y"
    assert redact("ref: ", [r"ref: (\S*)"]) == "ref: "


def test_compile_extra_names_the_bad_pattern() -> None:
    with pytest.raises(ValueError, match=re.escape("(unclosed")):
        compile_extra(["fine", "(unclosed"])
    with pytest.raises(ValueError, match=re.escape("[z-a]")):
        redact("text", ["[z-a]"])
    with pytest.raises(ValueError, match="too large"):  # beyond re's limits
        compile_extra(["a{4294967296}"])


def test_compile_extra_returns_patterns_and_passes_compiled_through() -> None:
    compiled = re.compile("x+")
    result = compile_extra(["a+", compiled])
    assert [p.pattern for p in result] == ["a+", "x+"]
    assert result[1] is compiled


def test_builtin_rules_still_apply_with_extra_patterns() -> None:
    assert redact("PASSWORD=x CORP-1", ["CORP-[0-9]"]) == "PASSWORD=*** ***"


# --------------------------------------------------------------------------- headers
@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Authorization", "Bearer abc.def", "Bearer ***"),
        ("authorization", "Basic dXNlcjpwYXNz", "Basic ***"),
        ("Proxy-Authorization", "Negotiate YIIGhgYGKwYBBQUC", "Negotiate ***"),
        ("Authorization", "rawtokenvalue", "***"),
        ("Authorization", "Bearer ${TOKEN}", "Bearer ${TOKEN}"),
        ("Authorization", "Bearer ***", "Bearer ***"),
        ("Cookie", "sessionid=abc; theme=dark", "***"),
        ("Set-Cookie", "id=a3fWa; Max-Age=2592000", "***"),
        ("X-Api-Key", "abc123", "***"),
        ("X-Auth-Token", "abc123", "***"),
        ("X-Session-Id", "s-1", "***"),
        ("X-Client-Secret", "cs", "***"),
        ("X-Api-Key", "$API_KEY", "$API_KEY"),
        ("Content-Type", "application/json", "application/json"),
        ("Location", "https://u:pw@host/x", "https://u:***@host/x"),
        ("X-Forwarded-For", "10.0.0.1", "10.0.0.1"),
    ],
)
def test_redact_header(name: str, value: str, expected: str) -> None:
    assert redact_header(name, value) == expected


def test_is_redacted_change() -> None:
    text = "PASSWORD=x"
    assert is_redacted_change(text, redact(text)) is True
    assert is_redacted_change("sleep 1", redact("sleep 1")) is False


# --------------------------------------------------------------------------- cost
def test_large_mixed_output_is_linear_enough() -> None:
    """~1 MB of mixed output plus inputs built to trigger catastrophic backtracking.

    A quadratic or exponential regex would need minutes to hours on these; the generous
    bound only catches that, not ordinary machine slowness.
    """
    lines = [
        ("GET http://127.0.0.1:8000/search?q=fastapi&page=2 200 OK", 0),
        ('curl -H "Authorization: Bearer abc.def" https://api.example.com/i?token=xyz&p=2', 2),
        ("export API_KEY=abcdef123456 DATABASE_URL=postgres://app:s3cret@db:5432/prod", 2),
        ('{"password": "hunter2", "user": "bob", "count": 3}', 1),
        ("tests/test_auth.py::test_token_refresh PASSED                     [ 42%]", 0),
        ("keyboard monkey=1 DEBUG=1 --timeout 5 sleep 0.03 git diff --stat", 0),
        (f"remote: token {GH_PAT} revoked", 1),
    ]
    block = "\n".join(line for line, _ in lines) + "\n"
    repeat = 1_000_000 // len(block) + 1
    text = block * repeat
    adversarial = [
        "a" * 200_000,
        "key_" * 50_000 + "=",
        "token" * 40_000,
        "a://" * 50_000,
        "http://" + "a:" * 100_000,
        "http://a:" + "@" * 200_000,
        "-----BEGIN PRIVATE KEY-----" * 8_000,
        '"password": "' + "a" * 200_000,
        "password: " + '"' * 200_000,
        '"token": \\"' + "\\" * 200_000,
        "eyJ" * 70_000,
        "sk-" + "a" * 200_000,
        "--token " * 30_000,
        "TOKEN=$(" * 30_000,
        "Bearer " * 30_000,
        "password" + " " * 200_000 + "=",
        "apiKey" * 35_000,
        "-u " + "a" * 200_000,
        "TOKEN=" + "$a:" * 70_000 + "!",
        "mysql -p" * 30_000,
        "redis-cli -a " * 20_000,
        "sshpass " * 30_000,
        "sshpass -" + "v" * 200_000,
        "docker login" + " -p" * 100_000,
        'mysql \\"' * 30_000,
        "mysql " + "\\\n" * 100_000,
        "mysql -p'" + "a" * 100_000 + " mysql -p'" * 10_000,
        "--name mysql " * 20_000,
        ("docker" + " " * 50) * 4_000,
    ]
    # CPU time, not wall time: a busy machine does not slow this process's own work, and
    # a quadratic pattern on these 100,000-character runs takes minutes of CPU, not seconds
    start = time.process_time()
    out = redact(text)
    for sample in adversarial:
        redact(sample)
    elapsed = time.process_time() - start
    assert out.count(MASK) == repeat * sum(n for _, n in lines)
    assert "hunter2" not in out
    assert "s3cret" not in out
    assert GH_PAT not in out
    assert elapsed < 30.0


def test_import_is_cheap() -> None:
    """Importing redact pulls in nothing beyond re/functools (and the tiny collections.abc)."""
    code = (
        "import json, sys, changenote; before = set(sys.modules); import changenote.redact; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root, env=env
    )
    new = {m for m in json.loads(result.stdout) if not m.startswith(("re.", "_"))}
    assert "changenote.redact" in new
    assert new <= {"changenote.redact", "collections.abc", "re", "functools", "enum", "copyreg"}


# --------------------------------------------------------------------------- pre-filter
def _texts(*tests: object) -> list[str]:
    """The texts the parametrized tests above run on."""
    return [
        case[0] if isinstance(case, tuple) else case
        for test in tests
        for mark in getattr(test, "pytestmark", [])
        if mark.name == "parametrize"
        for case in mark.args[1]
    ]


@pytest.mark.parametrize(
    "text",
    _texts(
        test_secret_is_masked_and_readable_part_kept,
        test_exact_output,
        test_ordinary_text_is_unchanged,
        test_env_references_and_masks_are_kept,
        test_idempotent_on_examples,
        test_command_password_options,
    ),
)
def test_the_pre_filter_never_skips_what_the_rules_would_mask(text: str) -> None:
    assert redact(text) == _builtin_rules(text)
    as_json = json.dumps({"k": [text]})
    if not might_hold_secret(as_json):
        assert _builtin_rules(text) == text


@settings(database=None, deadline=None, max_examples=400)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join))
def test_the_pre_filter_agrees_with_the_rules_on_secretish_text(text: str) -> None:
    assert redact(text) == _builtin_rules(text)
    if not might_hold_secret(json.dumps([text])):
        assert _builtin_rules(text) == text


# One text per trigger of the pre-filter, holding no other trigger: dropping any of them
# from the pre-filter lets a secret through.
ONE_TRIGGER_EACH = [
    "pass=hunter2", "PWD=hunter2", "secret=hunter2", "credentials=hunter2", "token=hunter2",
    "auth=hunter2", "cookie=hunter2", "session=hunter2", "sig=hunter2", "key=hunter2",
    "Bearer hunter2abc", "Basic dXNlcjpwYXNzd29yZDEy", "curl -u admin:hunter2 x",
    "redis-cli -a hunter2 ping", "mysql -phunter2 db", "mariadb -phunter2 db",
    "sshpass -p hunter2 ssh host", "docker login -p hunter2 registry", "psql postgres://app:pw@db",
    AWS_ID, AWS_STS_ID, GH_PAT, GH_OAUTH, GH_FINE, SLACK_BOT, SLACK_APP, STRIPE_LIVE,
    STRIPE_RESTRICTED, STRIPE_TEST, GOOGLE_KEY, NPM_TOKEN, OPENAI_KEY, GITLAB_PAT, GITLAB_TRIGGER,
    GITLAB_RUNNER, HF_TOKEN, "whsec_" + _body(24), JWT,
    "https://hooks.slack.com/services/" + SLACK_HOOK_TAIL,
]  # fmt: skip


@pytest.mark.parametrize("text", ONE_TRIGGER_EACH)
def test_each_trigger_of_the_pre_filter_is_needed(text: str) -> None:
    assert _builtin_rules(text) != text
    assert redact(text) == _builtin_rules(text)
