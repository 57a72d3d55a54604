"""Indonesian words for the codes the store keeps (outcomes, input modes, reasons ...)."""

from __future__ import annotations

OUTCOMES = {
    "answered": "Status disampaikan",
    "not_found": "NIK tidak terdaftar",
    "abandoned": "Ditutup sebelum selesai",
    "fault": "Gangguan sistem",
    "operator": "Disambungkan ke petugas",
    "callback": "Minta ditelepon balik",
    "message": "Meninggalkan pesan",
    "failed": "Gagal (input tidak dikenali)",
    "unknown": "Belum selesai",
}
INPUT_MODES = {"keypad": "Tombol", "speech": "Suara", "mixed": "Campuran", "none": "Tanpa input",
               "unknown": "Tidak diketahui"}
REASONS = {
    "not_found": "NIK tidak ditemukan",
    "complaint": "Pengaduan",
    "callback": "Permintaan telepon balik",
    "repeated_failure": "Gagal berulang",
    "system_fault": "Gangguan sistem",
    "rejected": "Tidak memenuhi syarat",
}
STATES = {"open": "Baru", "assigned": "Ditangani", "done": "Selesai"}
FOLLOW_UP_FILTERS = {"": "Semua", "any": "Ada tindak lanjut", "none": "Tanpa tindak lanjut",
                     "not_done": "Belum selesai", "open": "Baru", "assigned": "Ditangani", "done": "Selesai"}
RECIPIENT_STATUSES = {
    "scheduled": "Terjadwal", "not_scheduled": "Belum dijadwalkan", "collected": "Sudah diambil",
    "in_review": "Dalam peninjauan", "rejected": "Tidak termasuk", "not_found": "Tidak terdaftar",
}
EVENTS = {
    "prompt": "Memutar", "keys": "Tombol ditekan", "speech": "Suara terdengar", "no_input": "Tidak ada input",
    "lookup": "Pencarian data", "state": "Langkah", "fault": "Gangguan", "transfer": "Menyambungkan",
    "transfer_done": "Hasil sambungan", "follow_up": "Tindak lanjut dibuat", "end": "Panggilan berakhir",
    "recorded": "Rekaman", "nik_confirmed": "NIK dikonfirmasi",
}
PURPOSES = {"nik": "NIK", "confirm": "Konfirmasi", "complaint": "Pengaduan", "message": "Pesan",
            "other": "Lainnya"}
ROLES = {"operator": "Petugas", "admin": "Administrator"}
AUDIT_ACTIONS = {
    "reveal_call": "Membuka data panggilan", "reveal_recipient": "Membuka data penerima",
    "find_recipient": "Mencari penerima", "create_user": "Membuat akun", "update_user": "Mengubah akun",
    "create_follow_up": "Membuat tindak lanjut", "update_follow_up": "Mengubah tindak lanjut",
    "sign_in": "Masuk", "import_recipients": "Impor daftar penerima", "edit_prompt": "Mengubah teks suara",
}


def label(table: dict[str, str], code: str | None) -> str:
    if not code:
        return table.get("unknown", "-")
    if code.startswith("speech:"):
        return "Ucapan (" + code.split(":", 1)[1] + ")"
    return table.get(code, code)
