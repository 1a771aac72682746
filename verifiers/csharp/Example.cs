// What an application does with keysmith, in C#: verify the key offline
// first, activate once (keeping the computer license), trust that license
// until its check-by day, then re-check online (a signed answer carrying our
// nonce), and stop when the server says the key is revoked.
//
//   mono example.exe SERVER KEY PUBLIC_KEYS.json COMPUTER_ID STATE_FILE [--recheck]
//
// PUBLIC_KEYS.json is GET /v1/keys as shipped with the application. It
// prints "licensed: ..." and exits 0, or "not licensed: ..." and exits 1.
// JSON through DataContractJsonSerializer, HTTP through HttpWebRequest: both
// in .NET Framework, Mono and .NET 8, so the example needs no package.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Runtime.Serialization;
using System.Runtime.Serialization.Json;
using System.Security.Cryptography;
using System.Text;

namespace Keysmith.Example
{
    [DataContract] class PublicKey { [DataMember(Name = "id")] public ushort Id; [DataMember(Name = "public_key")] public string Key; [DataMember(Name = "retired")] public bool Retired; }
    [DataContract] class PublicKeys { [DataMember(Name = "keys")] public PublicKey[] Keys; }
    [DataContract] class State { [DataMember(Name = "license")] public string License; }
    [DataContract] class Activate { [DataMember(Name = "key")] public string Key; [DataMember(Name = "computer_id")] public string ComputerId; }
    [DataContract] class Activated { [DataMember(Name = "license")] public string License; [DataMember(Name = "error")] public string Error; }
    [DataContract] class Validate { [DataMember(Name = "key")] public string Key; [DataMember(Name = "computer_id")] public string ComputerId; [DataMember(Name = "nonce")] public string Nonce; }
    [DataContract] class Signed { [DataMember(Name = "answer")] public string Answer; [DataMember(Name = "key_id")] public ushort KeyId; [DataMember(Name = "signature")] public string Signature; }
    [DataContract] class Answer
    {
        [DataMember(Name = "status")] public string Status;
        [DataMember(Name = "nonce")] public string Nonce;
        [DataMember(Name = "computer_id")] public string ComputerId;
        [DataMember(Name = "seat")] public uint Seat;
        [DataMember(Name = "seats")] public uint Seats;
    }

    static class Program
    {
        static int Main(string[] args)
        {
            if (args.Length < 5)
            {
                Console.Error.WriteLine("usage: example SERVER KEY PUBLIC_KEYS.json COMPUTER_ID STATE_FILE [--recheck]");
                return 2;
            }
            try
            {
                Run(args[0], args[1], args[2], args[3], args[4], args.Length > 5 && args[5] == "--recheck");
                return 0;
            }
            catch (NotLicensed e)
            {
                Console.WriteLine("not licensed: " + e.Message);
                return 1;
            }
            catch (InvalidLicenseException e)
            {
                Console.WriteLine("not licensed: a license that does not verify (" + e.Message + ")");
                return 1;
            }
        }

        sealed class NotLicensed : Exception { public NotLicensed(string why) : base(why) { } }

        static void Run(string server, string key, string keysFile, string computerId, string stateFile, bool recheck)
        {
            var ring = new Dictionary<ushort, string>();
            foreach (var k in Read<PublicKeys>(File.ReadAllBytes(keysFile)).Keys)
                if (!k.Retired) ring[k.Id] = k.Key; // a retired key proves nothing
            var verifier = new Verifier(ring);
            var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

            Claims claims;
            try { claims = verifier.VerifyKey(key); }
            catch (InvalidLicenseException e) { throw new NotLicensed("the key does not verify (" + e.Message + ")"); }
            if (claims.Expires != "" && string.CompareOrdinal(claims.Expires, today) <= 0) throw new NotLicensed("the key has expired");

            ComputerLicense lic;
            if (File.Exists(stateFile))
            {
                lic = verifier.VerifyComputerLicense(Read<State>(File.ReadAllBytes(stateFile)).License);
                if (lic.ComputerId != computerId) throw new NotLicensed("the license is for another computer");
                if (string.CompareOrdinal(lic.CheckBy, today) > 0 && !recheck)
                {
                    Console.WriteLine("licensed: seat {0} of {1}, offline until {2}", lic.Seat, lic.Key.Seats, lic.CheckBy);
                    return;
                }
                var raw = new byte[16];
                using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(raw);
                var nonce = BitConverter.ToString(raw).Replace("-", "").ToLowerInvariant();
                int status;
                var signed = Post<Validate, Signed>(server + "/v1/validate", new Validate { Key = key, ComputerId = computerId, Nonce = nonce }, out status);
                if (status != 200) throw new NotLicensed("the server answered " + status);
                string text;
                try { text = verifier.VerifyAnswer(signed.Answer, signed.KeyId, signed.Signature); }
                catch (InvalidLicenseException) { throw new NotLicensed("the server's answer is not signed by the vendor"); }
                var answer = Read<Answer>(Encoding.UTF8.GetBytes(text));
                if (answer.Nonce != nonce || answer.ComputerId != computerId) throw new NotLicensed("a replayed answer");
                if (answer.Status != "valid") throw new NotLicensed("the key is " + answer.Status);
                Console.WriteLine("licensed: seat {0} of {1}, checked online", answer.Seat, answer.Seats);
                return;
            }

            int code;
            var activated = Post<Activate, Activated>(server + "/v1/activate", new Activate { Key = key, ComputerId = computerId }, out code);
            if (code != 200) throw new NotLicensed(activated.Error ?? "the server answered " + code);
            lic = verifier.VerifyComputerLicense(activated.License);
            File.WriteAllBytes(stateFile, Write(new State { License = activated.License }));
            Console.WriteLine("licensed: seat {0} of {1}, activated, offline until {2}", lic.Seat, lic.Key.Seats, lic.CheckBy);
        }

        static TOut Post<TIn, TOut>(string url, TIn body, out int status)
        {
            var req = (HttpWebRequest)WebRequest.Create(url);
            req.Method = "POST";
            req.ContentType = "application/json";
            req.Timeout = 10000;
            var bytes = Write(body);
            try
            {
                using (var s = req.GetRequestStream()) s.Write(bytes, 0, bytes.Length);
                using (var resp = (HttpWebResponse)req.GetResponse()) return Answer<TOut>(resp, out status);
            }
            catch (WebException e) when (e.Response is HttpWebResponse)
            {
                using (var resp = (HttpWebResponse)e.Response) return Answer<TOut>(resp, out status);
            }
            catch (WebException e)
            {
                throw new NotLicensed("the server cannot be reached (" + e.Status + ")");
            }
        }

        static T Answer<T>(HttpWebResponse resp, out int status)
        {
            status = (int)resp.StatusCode;
            using (var s = resp.GetResponseStream())
            using (var m = new MemoryStream())
            {
                s.CopyTo(m);
                return Read<T>(m.ToArray());
            }
        }

        static T Read<T>(byte[] json)
        {
            using (var m = new MemoryStream(json)) return (T)new DataContractJsonSerializer(typeof(T)).ReadObject(m);
        }

        static byte[] Write<T>(T value)
        {
            using (var m = new MemoryStream())
            {
                new DataContractJsonSerializer(typeof(T)).WriteObject(m, value);
                return m.ToArray();
            }
        }
    }
}
