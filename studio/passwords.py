"""A password change revokes the user's API token, as it already logs out their sessions.

Django calls the `password_changed` hook of every entry of AUTH_PASSWORD_VALIDATORS each
time a user is saved after `set_password()`: the password page, the admin, a password
reset, `manage.py changepassword` and any script alike. `TokenRevoker` uses that hook
(it checks nothing: `validate` accepts every password), so no path forgets the token;
its help text tells the password form's user so.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from studio import services


class TokenRevoker:
    def validate(self, password: str, user: AbstractBaseUser | None = None) -> None:
        return None

    def password_changed(self, password: str, user: AbstractBaseUser | None = None) -> None:
        if user is not None and user.pk is not None:
            services.tokens_revoke(user=user)

    def get_help_text(self) -> str:
        return "Changing the password revokes the account's API token (scripts using it get 401)."
