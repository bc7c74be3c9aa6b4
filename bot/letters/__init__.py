"""Letters to customers, and the referral form to the DMO (policy, "Letters").

``kinds`` names the letters and the elements each must contain; ``content`` builds and checks
what a letter says from the register; ``blocks`` is the simple format every template renders
to; ``formats`` turns one letter into email, Word and PDF; ``service`` renders, sends (exactly
once, through the outbox) and lists them.
"""

from bot.letters.content import LetterDocument, LetterError, LetterOptions, compose
from bot.letters.kinds import KINDS

__all__ = ["KINDS", "LetterDocument", "LetterError", "LetterOptions", "compose"]
