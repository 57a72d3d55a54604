"""Demo recipients: clearly marked (``is_demo``, names start with "DEMO"), one or more per
status, schedules a few days after the date given.  ``DEMO_NIKS`` names one NIK per
status for tests, the README and a first test call; ``not_registered`` is a well-formed
Jakarta NIK that is deliberately absent.
"""

from __future__ import annotations

import datetime as dt

from ivr.store.rows import CleanRow

DEMO_NIKS = {
    "scheduled": "3172014508850001",
    "not_scheduled": "3171021203790002",
    "collected": "3173035506900003",
    "in_review": "3174040102680004",
    "rejected": "3175056711950005",
    "not_registered": "3172061708450099",
}

# (nik, name, status, days from today or None, time window, place, address, phone, documents)
_PEOPLE = [
    (DEMO_NIKS["scheduled"], "DEMO Siti Rahmawati", "scheduled", 2, "08:00-12:00",
     "Kantor Kelurahan Cawang", "Jl. Dewi Sartika No. 12, Cawang, Kramat Jati, Jakarta Timur", "081234500001", ""),
    ("3172015003770011", "DEMO Budi Santoso", "scheduled", 2, "13:00-15:00",
     "Kantor Kelurahan Cawang", "Jl. Dewi Sartika No. 12, Cawang, Kramat Jati, Jakarta Timur", "081234500002", ""),
    ("3171010704820012", "DEMO Ahmad Fauzi", "scheduled", 3, "08:00-11:00",
     "Kantor Pos Fatmawati", "Jl. RS Fatmawati No. 5, Cilandak, Jakarta Selatan", "", ""),
    ("3171024109880013", "DEMO Dewi Lestari", "scheduled", 3, "09:00-12:00",
     "Kantor Pos Fatmawati", "Jl. RS Fatmawati No. 5, Cilandak, Jakarta Selatan", "081234500004",
     "surat undangan;KTP asli dan fotokopi;Kartu Keluarga asli dan fotokopi;buku tabungan"),
    ("3173011102750014", "DEMO Rudi Hartono", "scheduled", 4, "10:00-14:00",
     "Balai Warga RW 05 Kemayoran", "Jl. Garuda No. 40, Kemayoran, Jakarta Pusat", "", ""),
    ("3173025212920015", "DEMO Nur Aisyah", "scheduled", 4, "08:30-11:30",
     "Balai Warga RW 05 Kemayoran", "Jl. Garuda No. 40, Kemayoran, Jakarta Pusat", "", ""),
    ("3174031506700016", "DEMO Joko Widodo Saputra", "scheduled", 5, "08:00-12:00",
     "Kantor Kecamatan Grogol Petamburan", "Jl. Dr. Makaliwe Raya No. 1, Grogol, Jakarta Barat", "", ""),
    ("3175016408860017", "DEMO Maria Ulfa", "scheduled", 6, "13:00-16:00",
     "Kantor Kelurahan Koja", "Jl. Mindi No. 3, Koja, Jakarta Utara", "", ""),
    ("3101012003660018", "DEMO Hasan Basri", "scheduled", 7, "09:00-11:00",
     "Kantor Kelurahan Pulau Panggang", "Pulau Panggang, Kepulauan Seribu Utara", "", ""),
    ("3172076101940019", "DEMO Yuliana Putri", "scheduled", 1, "08:00-10:00",
     "Kantor Pos Jatinegara", "Jl. Matraman Raya No. 2, Jatinegara, Jakarta Timur", "", ""),
    (DEMO_NIKS["not_scheduled"], "DEMO Agus Salim", "not_scheduled", None, "", "", "", "", ""),
    ("3172084403810021", "DEMO Rina Marlina", "not_scheduled", None, "", "", "", "", ""),
    ("3175020909630022", "DEMO Bambang Sutrisno", "not_scheduled", None, "", "", "", "", ""),
    (DEMO_NIKS["collected"], "DEMO Sri Wahyuni", "collected", -3, "", "Kantor Kelurahan Kemayoran",
     "Jl. Garuda No. 40, Kemayoran, Jakarta Pusat", "", ""),
    ("3171056807870024", "DEMO Fitri Handayani", "collected", -5, "", "Kantor Pos Fatmawati",
     "Jl. RS Fatmawati No. 5, Cilandak, Jakarta Selatan", "", ""),
    ("3174021010600025", "DEMO Slamet Riyadi", "collected", -1, "", "Kantor Kecamatan Grogol Petamburan",
     "Jl. Dr. Makaliwe Raya No. 1, Grogol, Jakarta Barat", "", ""),
    (DEMO_NIKS["in_review"], "DEMO Andi Pratama", "in_review", None, "", "", "", "", ""),
    ("3172054512990027", "DEMO Lina Marlina", "in_review", None, "", "", "", "", ""),
    (DEMO_NIKS["rejected"], "DEMO Wulan Sari", "rejected", None, "", "", "", "", ""),
    ("3173062308710029", "DEMO Dedi Kurniawan", "rejected", None, "", "", "", "", ""),
]


def demo_rows(today: dt.date) -> list[CleanRow]:
    rows = []
    for nik, name, status, days, window, place, address, phone, docs in _PEOPLE:
        day = today + dt.timedelta(days=days) if days is not None else None
        start = end = None
        if window:
            a, b = window.split("-")
            start, end = dt.time.fromisoformat(a), dt.time.fromisoformat(b)
        rows.append(CleanRow(
            nik=nik, name=name, phone=phone, status=status, phase="DEMO tahap 1",
            collection_date=day, time_start=start, time_end=end, place=place, address=address,
            documents=docs, collected_on=day if status == "collected" else None))
    return rows
