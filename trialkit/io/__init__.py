"""Readers: study folders of flat files (:mod:`trialkit.io.flatfile`), CDISC SDTM/ADaM
(:mod:`trialkit.io.cdisc`, one mapper per domain) and the one ADaM ADTTE reader
(:func:`trialkit.io.adtte.read_adtte`)."""
