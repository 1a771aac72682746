// keysmith license verification in C#: license keys and computer licenses
// verified offline, signed answers of /v1/validate checked. The formats are
// in docs/formats.md; make test builds this file with Mono and runs it
// against license/testdata/vectors.json (Vectors.cs). Ed25519 is libsodium's
// (the library NSec wraps), called directly; README.md in this folder shows
// the BouncyCastle equivalent. Plain C# 7, so it builds on .NET Framework,
// Mono and .NET 8 alike.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Keysmith
{
    public sealed class InvalidLicenseException : Exception
    {
        public InvalidLicenseException(string why) : base(why) { }
    }

    public sealed class Claims
    {
        public ushort KeyId;
        public uint Product, Major, Minor, Seats;
        public byte[] Features;
        public string Model, Issued, Expires, Maintenance, Serial;
    }

    public sealed class ComputerLicense
    {
        public Claims Key;
        public string ComputerId, Issued, CheckBy;
        public uint Seat;
    }

    static class Sodium
    {
        [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
        static extern int sodium_init();

        [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
        static extern int crypto_sign_verify_detached(byte[] sig, byte[] m, ulong mlen, byte[] pk);

        static Sodium()
        {
            if (sodium_init() < 0) throw new InvalidOperationException("libsodium failed to initialise");
        }

        public static bool Verify(byte[] publicKey, byte[] message, byte[] sig)
        {
            return sig.Length == 64 && crypto_sign_verify_detached(sig, message, (ulong)message.Length, publicKey) == 0;
        }
    }

    public sealed class Verifier
    {
        const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        static readonly string[] Models = { "permanent", "trial", "subscription" };
        static readonly string[] Bindings = { "", "_floating", "_cloud" };
        static readonly DateTime Epoch = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        readonly Dictionary<ushort, byte[]> ring = new Dictionary<ushort, byte[]>();

        // publicKeys: id -> base64 of the 32-byte key, as GET /v1/keys gives them.
        public Verifier(IDictionary<ushort, string> publicKeys)
        {
            foreach (var kv in publicKeys)
            {
                var pub = Convert.FromBase64String(kv.Value);
                if (pub.Length != 32) throw new ArgumentException("public key " + kv.Key + " is not 32 bytes");
                ring[kv.Key] = pub;
            }
        }

        public Claims VerifyKey(string text)
        {
            byte[] payload, sig;
            Split(text, out payload, out sig);
            var r = new Reader(payload);
            var c = ReadClaims(r);
            if (r.Pos != payload.Length) throw new InvalidLicenseException("trailing bytes");
            Check(c.KeyId, payload, sig);
            return c;
        }

        public ComputerLicense VerifyComputerLicense(string text)
        {
            byte[] payload, sig;
            Split(text, out payload, out sig);
            var r = new Reader(payload);
            var key = ReadClaims(r);
            if (r.Pos == payload.Length || r.Byte() != 0x43) throw new InvalidLicenseException("not a computer license");
            var seat = (uint)r.Uvarint(key.Seats);
            var issued = r.Uvarint(65535);
            var checkBy = r.Uvarint(65535);
            var n = (int)r.Uvarint(256);
            if (payload.Length - r.Pos != n || seat == 0 || n == 0 || checkBy <= issued)
                throw new InvalidLicenseException("malformed");
            var computer = Encoding.UTF8.GetString(payload, r.Pos, n);
            Check(key.KeyId, payload, sig);
            return new ComputerLicense { Key = key, ComputerId = computer, Seat = seat, Issued = Day(issued), CheckBy = Day(checkBy) };
        }

        // Returns the answer's JSON text; the caller then checks the nonce it sent.
        public string VerifyAnswer(string answerBase64, ushort keyId, string signatureBase64)
        {
            byte[] body, sig;
            try
            {
                body = Convert.FromBase64String(answerBase64);
                sig = Convert.FromBase64String(signatureBase64);
            }
            catch (FormatException)
            {
                throw new InvalidLicenseException("not base64");
            }
            if (sig.Length != 64) throw new InvalidLicenseException("malformed signature");
            var prefix = Encoding.ASCII.GetBytes("keysmith answer\0");
            var message = new byte[prefix.Length + body.Length];
            prefix.CopyTo(message, 0);
            body.CopyTo(message, prefix.Length);
            Check(keyId, message, sig);
            return Encoding.UTF8.GetString(body);
        }

        void Check(ushort keyId, byte[] message, byte[] sig)
        {
            byte[] pub;
            if (!ring.TryGetValue(keyId, out pub)) throw new InvalidLicenseException("unknown signing key");
            if (!Sodium.Verify(pub, message, sig)) throw new InvalidLicenseException("bad signature");
        }

        static void Split(string text, out byte[] payload, out byte[] sig)
        {
            var raw = Decode(text);
            if (raw.Length < 64) throw new InvalidLicenseException("too short");
            payload = new byte[raw.Length - 64];
            sig = new byte[64];
            Array.Copy(raw, payload, payload.Length);
            Array.Copy(raw, payload.Length, sig, 0, 64);
        }

        static byte[] Decode(string text)
        {
            var bytes = new List<byte>();
            int acc = 0, bits = 0, chars = 0;
            foreach (var ch0 in text.ToUpperInvariant())
            {
                if (ch0 == '-' || char.IsWhiteSpace(ch0)) continue;
                var ch = ch0 == 'I' || ch0 == 'L' ? '1' : ch0 == 'O' ? '0' : ch0;
                var v = Alphabet.IndexOf(ch);
                if (v < 0 || ++chars > 1024) throw new InvalidLicenseException("not base32");
                acc = (acc << 5) | v;
                bits += 5;
                if (bits >= 8) { bits -= 8; bytes.Add((byte)(acc >> bits)); }
                acc &= (1 << bits) - 1;
            }
            if (bits >= 5 || acc != 0) throw new InvalidLicenseException("bad length or padding bits");
            return bytes.ToArray();
        }

        static string Day(ulong n) => Epoch.AddDays(n).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

        static Claims ReadClaims(Reader r)
        {
            var version = r.Byte();
            if (version != 1 && version != 2) throw new InvalidLicenseException("unknown format version");
            var keyId = (ushort)r.Uvarint(0xffff);
            var product = (uint)r.Uvarint(0xffffffff);
            var major = (uint)r.Uvarint(0xffffffff);
            var minor = (uint)r.Uvarint(0xffffffff);
            var features = new[] { r.Byte(), r.Byte(), r.Byte(), r.Byte() };
            var seats = (uint)r.Uvarint(0xffffffff);
            var model = r.Byte();
            var binding = version == 2 ? r.Byte() : (byte)0;
            var issued = r.Uvarint(65535);
            var expires = r.Uvarint(65535);
            var maintenance = version == 2 ? r.Uvarint(65535) : 0;
            var serial = BitConverter.ToString(r.Take(8)).Replace("-", "").ToLowerInvariant();
            if (seats == 0 || model > 2 || binding > 2) throw new InvalidLicenseException("bad claims");
            if ((expires != 0 && expires <= issued) || (maintenance != 0 && maintenance < issued))
                throw new InvalidLicenseException("bad dates");
            return new Claims
            {
                KeyId = keyId, Product = product, Major = major, Minor = minor, Features = features, Seats = seats,
                Model = Models[model] + Bindings[binding], Issued = Day(issued),
                Expires = expires != 0 ? Day(expires) : "", Maintenance = maintenance != 0 ? Day(maintenance) : "",
                Serial = serial,
            };
        }

        sealed class Reader
        {
            readonly byte[] buf;
            public int Pos;
            public Reader(byte[] b) { buf = b; }
            public byte Byte()
            {
                if (Pos >= buf.Length) throw new InvalidLicenseException("truncated");
                return buf[Pos++];
            }
            public byte[] Take(int n)
            {
                if (Pos + n > buf.Length) throw new InvalidLicenseException("truncated");
                var b = new byte[n];
                Array.Copy(buf, Pos, b, 0, n);
                Pos += n;
                return b;
            }
            public ulong Uvarint(ulong max)
            {
                ulong v = 0;
                for (int shift = 0; shift < 70; shift += 7)
                {
                    var b = Byte();
                    v |= (ulong)(b & 0x7f) << shift;
                    if (b >= 0x80) continue;
                    if (v > max) throw new InvalidLicenseException("number out of range");
                    return v;
                }
                throw new InvalidLicenseException("varint too long");
            }
        }
    }
}
